import { runCommand } from '../core/run-command.js';
import { benchEnv } from '../env.js';

// A database index BullMQ does not use, so the benchmark's key never meets a queue's keys.
const DB_INDEX = '15';

/** redis-benchmark's SET ops/s with 50 clients, no pipelining: the ceiling under every BullMQ number. */
export async function redisSetRate(requests: number): Promise<number> {
  const url = new URL(benchEnv.REDIS_URL);
  const host = url.hostname || '127.0.0.1';
  const port = url.port || '6379';
  const csv = await runCommand('redis-benchmark', ['-h', host, '-p', port, '--dbnum', DB_INDEX, '-t', 'set', '-n', String(requests), '-c', '50', '--csv']);
  // "test","rps",...  then  "SET","123456.79",...
  const row = csv.split('\n').find((line) => line.startsWith('"SET"'));
  const rps = Number(row?.split(',')[1]?.replaceAll('"', ''));
  if (!Number.isFinite(rps) || rps <= 0) throw new Error(`could not read redis-benchmark output: ${csv.slice(0, 200)}`);
  await runCommand('redis-cli', ['-h', host, '-p', port, '-n', DB_INDEX, 'DEL', 'key:__rand_int__']);
  return rps;
}
