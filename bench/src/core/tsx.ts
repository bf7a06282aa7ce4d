/** `node --import <this>` runs TypeScript entry points without tsx's wrapper process, so a child's pid is the service itself. */
export const TSX_LOADER = import.meta.resolve('tsx');
