import { Type, type Static } from '@sinclair/typebox';

/** What a quick scan stores in `scans.result`. */
export const QuickScanResult = Type.Object({
  online: Type.Literal(true),
  /**
   * TCP connect time to the SSH port, or, when the worker already held a connection to the server, the SSH
   * channel open on it (no new TCP connection is made then). The `latency_ms` column holds it rounded up to whole ms.
   */
  tcpConnectMs: Type.Number({ minimum: 0 }),
  sshSessionMs: Type.Number({ minimum: 0 }),
  /** Round trip of the one command the quick scan runs. */
  commandMs: Type.Number({ minimum: 0 }),
  hostKeyFingerprint: Type.String(),
  uname: Type.String(),
  uptimeSeconds: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
  /** `uptime` as the server prints it (load averages included), or null where the tool is missing. */
  uptime: Type.Union([Type.String(), Type.Null()]),
});
export type QuickScanResult = Static<typeof QuickScanResult>;
