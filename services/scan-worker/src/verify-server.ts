import { performance } from 'node:perf_hooks';
import type { Server } from '@mm/db';
import { SshConnectionError, SshTimeoutError, type SshSession } from '@mm/ssh';
import type { JobContext } from '@mm/worker-runtime';
import { markServerSeen } from './server-last-seen.js';
import { probeTcp, ServerUnreachableError } from './tcp-probe.js';

const TCP_TIMEOUT_MS = 10_000;

export interface VerifiedServer {
  server: Server;
  session: SshSession;
  /**
   * TCP connect time to the SSH port, sub-millisecond precision; null when the pool already held an open
   * connection to the server: then no probe is made (the connection proves the port answers, and a probe
   * costs the server an sshd fork) and the caller takes the latency from that connection's channel open.
   */
  tcpConnectMs: number | null;
  /** Time to a verified SSH session: handshake, host-key check and authentication (near 0 when the pool reuses a connection). */
  sshSessionMs: number;
}

/**
 * Loads the server, probes its SSH port (unless the pool holds a connection to it) and opens a verified session.
 *
 * An unreachable server is recorded at once: the server's last-seen turns offline and the scan record
 * is created with `online: false`. While retries remain the record stays `running` (the job is alive,
 * waiting out its backoff) with the last error and the attempt count; the final attempt marks it `failed`.
 * Authentication and host-key failures are not retried; the runtime creates the record as `failed`
 * with `online` null: the host answered, but it was not verified.
 */
export async function verifyServer(ctx: JobContext<'scan'>, serverId: string, scanType: 'quick' | 'full'): Promise<VerifiedServer> {
  const { server, target } = await ctx.loadServer(serverId);
  let reachable = false;
  try {
    // The probe goes to the address the host policy allows, never to whatever the name resolves to next.
    const probe = async () => probeTcp(await ctx.ssh.allowedAddress(target.host, target.port), target.port, TCP_TIMEOUT_MS, ctx.signal);
    const tcpConnectMs = ctx.ssh.hasOpenConnection(server.id) ? null : await probe();
    reachable = true;
    const started = performance.now();
    const session = await ctx.connect(server, target);
    return { server, session, tcpConnectMs, sshSessionMs: performance.now() - started };
  } catch (err) {
    const unreachable = err instanceof ServerUnreachableError || err instanceof SshConnectionError || err instanceof SshTimeoutError;
    if (unreachable) {
      try {
        await markServerSeen(ctx.db, server.id, { status: 'offline', latencyMs: null });
        await ctx.record.start({ scanType, online: false });
      } catch (recordErr) {
        ctx.log.error({ err: recordErr }, 'could not record the unreachable server');
      }
    }
    ctx.log.warn({ err, serverId: server.id, reachable }, 'server check failed');
    throw err;
  }
}
