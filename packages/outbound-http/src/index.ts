export {
  assertLiteralAllowed,
  checkPublicUrl,
  guardedLookup,
  isForbiddenAddress,
  parseAllowedHosts,
  parsePublicUrl,
  UrlRefused,
  type PublicUrlPolicy,
} from './public-url-guard.js';
export { guardedGet, type GuardedGetResult } from './guarded-get.js';
