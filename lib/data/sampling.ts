/**
 * Deterministic sampling: the same seed gives the same indices on every platform, because everything is exact
 * 64-bit integer arithmetic (BigInt), never floating point.
 *
 * Generator: SplitMix64 (Steele, Lea, Flood 2014), state s ← s + 0x9E3779B97F4A7C15 (mod 2^64), output
 *   z = s;  z = (z ⊕ (z ≫ 30)) · 0xBF58476D1CE4E5B9;  z = (z ⊕ (z ≫ 27)) · 0x94D049BB133111EB;  z ⊕ (z ≫ 31).
 * Bounded draws use rejection (no modulo bias): with L = 2^64 − (2^64 mod n), draw z until z < L, return z mod n.
 */
import { requireArg } from '../errors.js';

const MASK = (1n << 64n) - 1n;
const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;
const TWO_64 = 1n << 64n;

export class SplitMix64 {
  private state: bigint;
  constructor(seed: number | bigint) {
    this.state = BigInt.asUintN(64, BigInt(seed));
  }

  /** The next 64-bit output as an unsigned BigInt. */
  next(): bigint {
    this.state = (this.state + GOLDEN_GAMMA) & MASK;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
    return z ^ (z >> 31n);
  }

  /** A uniform integer in [0, n), without modulo bias. */
  below(n: number): number {
    const bound = BigInt(n);
    const limit = TWO_64 - (TWO_64 % bound);
    let z = this.next();
    while (z >= limit) z = this.next();
    return Number(z % bound);
  }
}

/**
 * `k` distinct indices drawn uniformly from [0, count), in draw order, by a partial Fisher–Yates shuffle of
 * 0..count-1 (step i swaps position i with i + below(count − i)). The swaps live in a Map, so memory is O(k),
 * not O(count). Taking the first k' < k of the result equals sampleIndices(count, k', seed).
 */
export function sampleIndices(count: number, k: number, seed: number | bigint): Int32Array {
  requireArg(Number.isSafeInteger(count) && count >= 0 && count <= 2 ** 31 - 1, `count must be an integer in [0, 2^31), got ${count}`);
  requireArg(Number.isSafeInteger(k) && k >= 0 && k <= count, `k must be an integer in [0, count = ${count}], got ${k}`);
  requireArg(typeof seed === 'bigint' || Number.isSafeInteger(seed), `seed must be an integer, got ${seed}`);
  const rng = new SplitMix64(seed);
  const moved = new Map<number, number>();
  const out = new Int32Array(k);
  for (let i = 0; i < k; i++) {
    const j = i + rng.below(count - i);
    const atJ = moved.get(j) ?? j;
    moved.set(j, moved.get(i) ?? i);
    out[i] = atJ;
  }
  return out;
}
