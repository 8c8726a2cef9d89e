/**
 * Input normalisation presets and the one rule that turns a user's choice (a preset name or explicit mean/std)
 * into a Normalization. Samples are x = (pixel/255 − mean_c) / std_c per channel c (see dataset.ts).
 *
 * The presets are the published per-channel statistics of each training set (pixel/255 scale):
 * ImageNet (torchvision's reference scripts), CIFAR-10 (per-pixel std over the 50k training images), MNIST and
 * Fashion-MNIST (mean and std of the 60k training images). 'none' feeds pixel/255 (floats as stored).
 */
import { ClafusionError } from '../errors.js';
import type { Normalization } from './dataset.js';

export const NORMALIZATION_PRESETS = {
  imagenet: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  mnist: { mean: [0.1307], std: [0.3081] },
  'fashion-mnist': { mean: [0.286], std: [0.353] },
  none: { mean: [0], std: [1] },
} as const satisfies Record<string, Normalization>;

export type NormalizationPreset = keyof typeof NORMALIZATION_PRESETS;

/** What an API caller may pass as `normalization`: a preset name or explicit per-channel values. */
export type NormalizationChoice = NormalizationPreset | Normalization;

export const NORMALIZATION_PRESET_NAMES = Object.keys(NORMALIZATION_PRESETS) as NormalizationPreset[];

const PRESET_LIST = NORMALIZATION_PRESET_NAMES.join(', ');

function isPreset(name: string): name is NormalizationPreset {
  return Object.prototype.hasOwnProperty.call(NORMALIZATION_PRESETS, name);
}

/** The Normalization a choice stands for (a copy), or undefined for none given; E_ARG for an unknown preset. */
export function resolveNormalization(choice: NormalizationChoice | undefined): Normalization | undefined {
  if (choice === undefined) return undefined;
  if (typeof choice === 'string') {
    if (!isPreset(choice)) {
      throw new ClafusionError('E_ARG', `unknown normalisation preset '${choice}'; one of: ${PRESET_LIST}`);
    }
    const preset = NORMALIZATION_PRESETS[choice];
    return { mean: [...preset.mean], std: [...preset.std] };
  }
  if (choice === null || typeof choice !== 'object' || !Array.isArray(choice.mean) || !Array.isArray(choice.std)) {
    throw new ClafusionError('E_ARG', `normalization must be a preset name (${PRESET_LIST}) or { mean: number[], std: number[] }`);
  }
  return { mean: [...choice.mean], std: [...choice.std] };
}

/**
 * The choice behind command-line flags: `--normalize <preset>` or `--mean` with `--std` (E_ARG for one without the
 * other, or for both forms at once).
 */
export function normalizationFromFlags(flags: { normalize?: string; mean?: number[]; std?: number[] }):
  NormalizationChoice | undefined {
  if ((flags.mean === undefined) !== (flags.std === undefined)) {
    throw new ClafusionError('E_ARG', 'give --mean and --std together (or neither, to use the models\' metadata)');
  }
  if (flags.normalize !== undefined && flags.mean !== undefined) {
    throw new ClafusionError('E_ARG', 'give either --normalize or --mean/--std, not both');
  }
  if (flags.normalize !== undefined) {
    if (!isPreset(flags.normalize)) {
      throw new ClafusionError('E_ARG', `unknown --normalize '${flags.normalize}'; one of: ${PRESET_LIST}`);
    }
    return flags.normalize;
  }
  return flags.mean && flags.std ? { mean: flags.mean, std: flags.std } : undefined;
}

/** True when two normalisations feed the same values (a single value stands for every channel). */
export function sameNormalization(a: Normalization, b: Normalization): boolean {
  const same = (x: readonly number[], y: readonly number[]) => {
    const n = Math.max(x.length, y.length);
    for (let i = 0; i < n; i++) if (x[x.length === 1 ? 0 : i] !== y[y.length === 1 ? 0 : i]) return false;
    return true;
  };
  return same(a.mean, b.mean) && same(a.std, b.std);
}

export function describeNormalization(n: Normalization): string {
  return `mean [${n.mean.join(', ')}], std [${n.std.join(', ')}]`;
}
