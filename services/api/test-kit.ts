// What other packages' tests, the bench and the client's schema script use of the API (its src/ is not imported
// from outside): the app builder, its env schema, the first-admin seed, password hashing, the OpenAPI document, and
// the log destination a running API writes to (the bench logs the same way, into /dev/null).
export { buildApp } from './src/app.js';
export { ApiEnv } from './src/env.js';
export { seedAdmin } from './src/features/users/seed-admin.js';
export { hashPassword } from './src/shared/passwords.js';
export { openApiDocument } from './src/openapi-document.js';
export { logDestination } from './src/shared/log-destination.js';
