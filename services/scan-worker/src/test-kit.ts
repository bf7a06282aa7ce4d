// What other packages' tests and the bench use of the scan worker: its handler map and its constant scripts.
export { scanHandlers } from './handlers.js';
export { FULL_SCAN_SCRIPT } from './full-scan/script.js';
export { QUICK_SCAN_SCRIPT } from './quick-scan/command.js';
