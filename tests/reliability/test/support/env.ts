// The only reader of process.env in this package: `pnpm soak` sets RELIABILITY_SOAK=1 for the full-size runs.
export const soak = process.env.RELIABILITY_SOAK === '1';
