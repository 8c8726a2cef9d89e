/** Shared shapes for `npm run bench` (benchmarks/run.ts collects every benchmarks/cases/*.ts). */
export interface BenchContext {
  /** True when Debian's python3 with POT (`import ot`) is available for baselines. */
  pot: boolean;
  /** The python interpreter to run baselines with. */
  python: string;
  /** Fewer sizes and repetitions (`npm run bench -- --quick`). */
  quick: boolean;
  /** Also the ImageNet-scale cases that take many minutes (`npm run bench -- --large`, cases/imagenet.ts). */
  large: boolean;
}

export interface BenchRecord {
  case: string;
  size: string;
  ours_ms: number;
  baseline: string;
  baseline_ms: number | null;
  /** baseline_ms / ours_ms: how many times faster we are. */
  ratio: number | null;
  /** The ratio the issue asks for, where it sets one. */
  goal?: number;
  note?: string;
}
