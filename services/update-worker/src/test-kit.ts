// What other packages' tests use of the update worker: its handler map.
export { createUpdateHandlers, updateHandlers, updateSettingsOf } from './handlers.js';
