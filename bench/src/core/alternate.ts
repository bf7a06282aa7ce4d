/**
 * Runs baseline and product in turn, A, B, A, B, so that drift on a shared machine (another process,
 * thermal throttling, a growing Redis) lands on both sides instead of on whichever ran last.
 */
export async function alternate<A, B>(rounds: number, baseline: () => Promise<A>, product: () => Promise<B>): Promise<{ baseline: A[]; product: B[] }> {
  const out: { baseline: A[]; product: B[] } = { baseline: [], product: [] };
  for (let i = 0; i < rounds; i++) {
    out.baseline.push(await baseline());
    out.product.push(await product());
  }
  return out;
}
