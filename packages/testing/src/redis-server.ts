import { startChildServer, type ChildServer } from './child-server.js';

/**
 * A redis-server of the test's own (Debian's binary), started with `args` (port, bind, persistence, cluster mode, …)
 * and resolved once it accepts connections. `stop()` sends SIGTERM (Redis flushes its AOF and exits); kill the
 * `child` directly for a crash. Killed with this process if a test run dies.
 */
export function startRedisServer(args: string[]): Promise<ChildServer> {
  return startChildServer('redis-server', ['--daemonize', 'no', ...args], /Ready to accept connections/);
}
