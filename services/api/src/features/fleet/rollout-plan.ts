/** A rollout's waves that cannot cover the run's servers: the route answers 400 with this detail. */
export class RolloutPlanError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'RolloutPlanError';
  }
}

function percentOf(size: string): number {
  return Number(size.slice(0, -1));
}

/**
 * The size of every wave for `total` servers, like Ansible's `serial`: a number is that many servers, "10%" is a tenth
 * of the run (rounded up, at least 1), each capped at what is left; the last must be "100%" (all the rest), so no
 * server is left out. Waves that would be empty are dropped.
 */
export function planWaves(total: number, waves: readonly (number | string)[]): number[] {
  const last = waves[waves.length - 1];
  if (typeof last !== 'string' || percentOf(last) !== 100) {
    throw new RolloutPlanError('the last wave must be "100%", so that every selected server is in a wave', `/rollout/waves/${waves.length - 1}`);
  }
  const sizes: number[] = [];
  let left = total;
  for (const [i, wave] of waves.entries()) {
    if (left === 0) break;
    const wanted = i === waves.length - 1 ? left : typeof wave === 'number' ? wave : Math.max(1, Math.ceil((percentOf(wave) * total) / 100));
    const size = Math.min(wanted, left);
    sizes.push(size);
    left -= size;
  }
  return sizes;
}

/** Wave number (from 0) of each of `total` servers in order. */
export function waveOfEach(sizes: readonly number[]): number[] {
  return sizes.flatMap((size, wave) => Array.from({ length: size }, () => wave));
}
