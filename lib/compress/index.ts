/**
 * Teacher-student compression (spec §4.2): a wide, deep teacher T and a narrow, shallow student S are fused with
 * CLAFusion onto the student's basis (S is the OT target, so every fused layer has the student's width), then the
 * fused model is trained, by default distilled from the teacher (spec §4.3 loss), to give a model of the student's
 * cost that starts from what both models learnt.
 *
 *   depth 'teacher' (default, as published): S is balanced with identity units to T's depth (CLA), so the result
 *                   has T's depth and S's widths (a residual block inserted into S keeps T's inner widths: compact
 *                   balancing, lib/fusion/balance/identity.ts).
 *   depth 'student': the result has S's architecture exactly (its parameter count). For MLPs without batch-norm,
 *                   T's unmatched layers are merged into the next matched one (balance 'merge': each merged ReLU
 *                   replaced by a fixed 0/1 diagonal, exact where the unit's sign is constant on the data); for
 *                   other networks the fused units at the positions inserted into S are dropped (each started as an
 *                   identity in S, so the fused unit is half the teacher's and half an identity).
 */
import type { Dataset } from '../data/dataset.js';
import { openDataset } from '../data/spec.js';
import { ClafusionError, requireArg, throwIfAborted } from '../errors.js';
import { canMerge } from '../fusion/balance/merge.js';
import { hiddenDepth } from '../fusion/cla/index.js';
import { type FuseOptions, type FuseStage, fuse } from '../fusion/index.js';
import { readNetwork } from '../graph/recognise.js';
import { emitModel } from '../graph/emit.js';
import { type Network, type Unit, hiddenUnits, parameterCount, unitWidth } from '../ir/network.js';
import { type DistillOptions, distill, finetune, type TrainProgress, type TrainResult } from '../train/index.js';

/** Fusion options compress passes through (it sets the target, the balancing and the weights itself). */
export type CompressFuseOptions = Omit<FuseOptions, 'data' | 'target' | 'balance' | 'weights' | 'signal' |
  'onProgress'>;

export type CompressProgress = { phase: 'fuse'; stage: FuseStage; done: number; total: number } | TrainProgress;

export interface CompressOptions extends Omit<DistillOptions, 'onProgress'> {
  /** The result's depth (see the module comment; default 'teacher'). */
  depth?: 'teacher' | 'student';
  /** How the fused model is trained: distilled from the teacher (default) or finetuned with the labels. */
  training?: 'distill' | 'finetune';
  /** The teacher's averaging weight in the fusion (default 0.5; the student gets 1 − teacherWeight). */
  teacherWeight?: number;
  /** Activation samples of the fusion (default: the training data, `samples` of it). */
  fusionData?: string | Dataset;
  fusion?: CompressFuseOptions;
  onProgress?: (progress: CompressProgress) => void;
}

export interface ModelCost {
  parameters: number;
  /** Hidden units (layers and residual blocks, the classifier excluded). */
  depth: number;
  /** Output width of every hidden unit, in order. */
  widths: number[];
}

export interface CompressResult {
  /** The trained model as ONNX bytes, and as a Network. */
  bytes: Uint8Array;
  network: Network;
  /** The fused model before training. */
  fused: Network;
  training: TrainResult;
  /** How the student's depth was reached ('none' with depth 'teacher'). */
  depthMethod: 'none' | 'merge' | 'drop';
  cost: { teacher: ModelCost; student: ModelCost; result: ModelCost };
}

export function modelCost(network: Network): ModelCost {
  const widths = hiddenUnits(network).map(unitWidth);
  return { parameters: parameterCount(network), depth: hiddenDepth(network), widths };
}

function toNetwork(model: string | Uint8Array, what: string): Network {
  requireArg(typeof model === 'string' || model instanceof Uint8Array, `${what} must be an ONNX path or ONNX bytes`);
  return readNetwork(model);
}

/**
 * `network` without its inserted units (those balancing added to the student). A dropped unit's pool (moved there
 * by balancing from the group's last original unit) goes back to the kept unit before it.
 */
export function dropInsertedUnits(network: Network): Network {
  const segments = network.segments.map((segment) => {
    const kept: Unit[] = [];
    for (const unit of segment.units) {
      if (!unit.inserted) {
        kept.push(unit);
        continue;
      }
      if (!unit.pool) continue;
      const previous = kept.at(-1);
      if (!previous || previous.pool) {
        const why = 'an inserted unit carries a pool that no kept unit before it can take';
        throw new ClafusionError('E_ARG', `${unit.name}: ${why}`);
      }
      previous.pool = unit.pool;
    }
    return { ...segment, units: kept };
  });
  return { ...network, segments };
}

function checkOptions(options: CompressOptions): void {
  requireArg(options !== null && typeof options === 'object', 'options must be an object with at least `data`');
  const { depth = 'teacher', training = 'distill', teacherWeight = 0.5 } = options;
  requireArg(depth === 'teacher' || depth === 'student',
    `depth must be 'teacher' or 'student', got ${JSON.stringify(depth)}`);
  requireArg(training === 'distill' || training === 'finetune',
    `training must be 'distill' or 'finetune', got ${JSON.stringify(training)}`);
  requireArg(Number.isFinite(teacherWeight) && teacherWeight >= 0 && teacherWeight <= 1,
    `teacherWeight must be in [0, 1], got ${teacherWeight}`);
}

async function openData(data: string | Dataset): Promise<Dataset> {
  return typeof data === 'string' ? openDataset(data) : data;
}

/** Fuses `teacher` onto `student`'s basis at the requested depth; returns the fused network and how. */
async function fuseOntoStudent(teacher: Uint8Array, student: Uint8Array, mergeable: boolean, samples: Dataset,
  options: CompressOptions): Promise<{ network: Network; depthMethod: CompressResult['depthMethod'] }> {
  const depthMethod = options.depth !== 'student' ? 'none' : mergeable ? 'merge' : 'drop';
  const teacherWeight = options.teacherWeight ?? 0.5;
  const fused = await fuse([teacher, student], {
    ...options.fusion,
    data: samples,
    // The fusion sees the inputs as the training will (the training's normalisation option, else the metadata).
    ...(options.normalization === undefined ? {} : { normalization: options.normalization }),
    target: 1,
    balance: depthMethod === 'merge' ? 'merge' : 'add',
    weights: [teacherWeight, 1 - teacherWeight],
    signal: options.signal,
    onProgress: (stage, done, total) => options.onProgress?.({ phase: 'fuse', stage, done, total }),
  });
  return { network: depthMethod === 'drop' ? dropInsertedUnits(fused.network) : fused.network, depthMethod };
}

/** Compresses `teacher` into a model of `student`'s widths (and depth, with depth 'student'); see the module doc. */
export async function compress(teacher: string | Uint8Array, student: string | Uint8Array,
  options: CompressOptions): Promise<CompressResult> {
  checkOptions(options);
  const [teacherNet, studentNet] = [toNetwork(teacher, 'teacher'), toNetwork(student, 'student')];
  if (hiddenDepth(studentNet) > hiddenDepth(teacherNet)) {
    throw new ClafusionError('E_ARG', `the student has ${hiddenDepth(studentNet)} hidden units but the teacher only ` +
      `${hiddenDepth(teacherNet)}; compression needs a teacher at least as deep as the student (swap them?)`);
  }
  const train = await openData(options.data);
  const samples = options.fusionData === undefined ? train : await openData(options.fusionData);
  throwIfAborted(options.signal);
  const [teacherBytes, studentBytes] = [emitModel(teacherNet).bytes, emitModel(studentNet).bytes];
  const mergeable = canMerge(teacherNet) && canMerge(studentNet);
  const fusion = await fuseOntoStudent(teacherBytes, studentBytes, mergeable, samples, options);
  const { network: fused, depthMethod } = fusion;
  // Everything but compress's own options is a training option.
  const { depth, training: how, teacherWeight, fusionData, fusion: fuseOptions, onProgress, ...rest } = options;
  const trainOptions: DistillOptions = { ...rest, data: train, ...(onProgress ? { onProgress } : {}) };
  const training = how === 'finetune'
    ? await finetune(fused, trainOptions)
    : await distill(fused, [teacherBytes], trainOptions);
  return {
    bytes: training.bytes,
    network: training.network,
    fused,
    training,
    depthMethod,
    cost: { teacher: modelCost(teacherNet), student: modelCost(studentNet), result: modelCost(training.network) },
  };
}
