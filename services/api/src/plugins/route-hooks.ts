/**
 * A route's hooks of one kind with `hook` added last, as a new list: Fastify takes a function or an array there, and
 * a GET and the HEAD route Fastify adds for it may share their options' list, so it is never pushed to in place.
 */
export const withHook = <T>(hooks: T | T[] | undefined, hook: T): T[] => (hooks === undefined ? [hook] : Array.isArray(hooks) ? [...hooks, hook] : [hooks, hook]);
