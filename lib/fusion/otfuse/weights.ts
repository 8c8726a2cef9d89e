/**
 * The averaging weights of one slot. Balancing inserts blocks with a zero branch into the shallower model, so at
 * such a block only the deeper model has a real branch (an *unmatched block*). Averaged with the zero branch at the
 * models' weights, that branch keeps half its scale; with regression maps it also arrives mapped by maps fitted for
 * the real layers around it while the inserted units keep their plans, and on the BN fixture families the fused model
 * is better the less of it it keeps (README "One-shot quality": weight 0.1 beat 0.25, 0.5, 1 and 0).
 */

/**
 * `weights` (one per model: the sources', then the target's) at a slot where `zeroBranch[k]` says whether model k
 * has an inserted zero-branch layer there. With `unmatched` = u a number, and both kinds present, the models with a
 * real layer (R) share u and the inserted ones (I) the rest, each group in proportion to its weights:
 *
 *   w'_k = u · w_k / Σ_{j∈R} w_j   (k ∈ R),        w'_k = (1 − u) · w_k / Σ_{j∈I} w_j   (k ∈ I).
 *
 * 'weights', a slot with one kind only, or a group whose weights sum to 0 keep `weights` as they are.
 */
export function slotWeights(weights: readonly number[], zeroBranch: readonly boolean[], unmatched: number | 'weights'): number[] {
  if (unmatched === 'weights') return [...weights];
  const total = (inserted: boolean) => weights.reduce((sum, w, k) => sum + (zeroBranch[k] === inserted ? w : 0), 0);
  const [real, inserted] = [total(false), total(true)];
  if (real === 0 || inserted === 0) return [...weights];
  return weights.map((w, k) => (zeroBranch[k] ? ((1 - unmatched) * w) / inserted : (unmatched * w) / real));
}
