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
  { name: 'default', description: "fuse's defaults (correlation ground cost, repair)", options: {} },
  {
    name: 'euclidean', description: 'the published euclidean ground cost (the default before), with the repair',
    options: { metric: 'euclidean' },
  },
  {
    name: 'euclid-no-repair', description: 'euclidean ground cost without the statistics repair',
    options: { metric: 'euclidean', repair: false },
  },
  { name: 'plans', description: 'OT plans only (the default before for models with BN)', options: { maps: 'plans' } },
  {
    name: 'regression',
    description: 'regression maps around the OT plans (the default for models with BN), for every model',
    options: { maps: 'regression' },
  },
  {
    name: 'unmatched-weights',
    description: "the models' weights at unmatched blocks (the default before; the default now gives the real block 0.1 under regression maps)",
    options: { unmatchedBlockWeight: 'weights' },
  },
  { name: 'sqeuclidean', description: 'squared euclidean ground cost, with the repair', options: { metric: 'sqeuclidean' } },
];

export function methodsNamed(names: readonly string[] | undefined): QualityMethod[] {
  if (names === undefined) return [...METHODS];
  return names.map((name) => {
    const method = METHODS.find((m) => m.name === name);
    if (!method) throw new Error(`unknown method ${name}; choose from ${METHODS.map((m) => m.name).join(', ')}`);
    return method;
  });
}
