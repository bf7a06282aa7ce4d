export { default } from '@mm/testing/vitest-preset';
