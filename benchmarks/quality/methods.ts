/**
 * The one-shot fusion methods the quality harness compares: a name and the `fuse` options it stands for. Every
 * method gets the harness's activation samples (`data`, `samples`, `seed`) on top of these.
 */
import type { FuseOptions } from '../../lib/fusion/index.js';

export interface QualityMethod {
  name: string;
  /** What the method changes, for the table's legend. */
  description: string;
  options: FuseOptions;
}

export const METHODS: readonly QualityMethod[] = [
  { name: 'reference', description: 'the published behaviour (--reference)', options: { reference: true } },
  { name: 'default', description: "fuse's defaults", options: {} },
  { name: 'no-repair', description: 'defaults without the statistics repair', options: { repair: false } },
  {
    name: 'correlation', description: 'match units on 1 − correlation instead of euclidean distance',
    options: { metric: 'correlation' },
  },
  { name: 'sqeuclidean', description: 'match units on squared euclidean distance', options: { metric: 'sqeuclidean' } },
];

export function methodsNamed(names: readonly string[] | undefined): QualityMethod[] {
  if (names === undefined) return [...METHODS];
  return names.map((name) => {
    const method = METHODS.find((m) => m.name === name);
    if (!method) throw new Error(`unknown method ${name}; choose from ${METHODS.map((m) => m.name).join(', ')}`);
    return method;
  });
}
