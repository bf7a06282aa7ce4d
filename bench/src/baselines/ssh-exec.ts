import { NodeSSH } from 'node-ssh';
import type { TestSshd } from '@mm/testing';
import { msSince } from '../core/stats.js';

/** One node-ssh connection, opened once: every sample is an exec on a warm connection. */
export async function warmExecSamples(sshd: TestSshd, command: string, samples: number): Promise<number[]> {
  const ssh = new NodeSSH();
  await ssh.connect({ host: sshd.host, port: sshd.port, username: sshd.username, privateKey: sshd.privateKey, readyTimeout: 20_000 });
  // As packages/ssh does: without TCP_NODELAY an exec can stall ~40 ms on the server's delayed ACK, and the
  // baseline swung between ~7 and ~120 ms from run to run (docs/PERFORMANCE.md).
  ssh.connection?.setNoDelay(true);
  try {
    // The first exec pays for the channel machinery's first use; it is not a warm exec.
    await ssh.execCommand(command);
    const out: number[] = [];
    for (let i = 0; i < samples; i++) {
      const started = process.hrtime.bigint();
      const res = await ssh.execCommand(command);
      out.push(msSince(started));
      if (res.code !== 0) throw new Error(`baseline exec exited ${res.code}: ${res.stderr.slice(0, 200)}`);
    }
    return out;
  } finally {
    ssh.dispose();
  }
}
