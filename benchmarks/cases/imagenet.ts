/**
 * ImageNet-scale fusion (issue 7), only with `npm run bench -- --large`: ResNet-50/101/152-shaped models in
 * torchvision's layout with random weights, generated here (benchmarks/imagenet.ts), on 3x224x224 smooth random
 * images. Every measurement runs in a child process of its own (benchmarks/imagenet-job.ts), which reports its own
 * peak RSS; one that grows beyond CLAFUSION_BENCH_MEMORY_CAP_GIB (default 6) is stopped and recorded as such.
 *
 * - weight mode, resnet101 + resnet50 and resnet152 + resnet101 (no data): median of 3, goal <= 20 s each, and the
 *   fused model at most 1.05x the deeper model's parameters (compact balancing);
 * - activation mode, the same pairs at 200 samples: the whole fusion against one plain ONNX Runtime forward pass of
 *   both models over the same samples (measured in the same run), goal fusion <= 3x that pass, peak RSS <= 4 GiB;
 * - memory: resnet50 + resnet50 (two seeds) at 32, 200 and 1000 samples, peak RSS of each.
 * CLAFUSION_BENCH_IMAGENET_SAMPLES=n runs the activation cases and the memory table at n samples only (a smoke run);
 * CLAFUSION_BENCH_IMAGENET_PARTS=weights,activations,memory (default all) picks the parts to run;
 * CLAFUSION_BENCH_IMAGENET_PAIRS=resnet101+50,resnet152+101 (default both) the pairs of the first two;
 * CLAFUSION_BENCH_IMAGENET_CHUNK=n runs the models on at most n samples at a time (default: fuse's);
 * CLAFUSION_BENCH_IMAGENET_MEMORY_GIB=g gives fuse a memory budget of g GiB (default: fuse's, a quarter of the free
 * memory up to 2 GiB). Each activation-mode record prints the budget and the peak RSS of every stage: the activation stage
 * should stay within the budget plus the ONNX Runtime sessions.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImagenetJob, ImagenetJobResult } from '../imagenet-job.js';
import { type ResnetDepth, imagenetResnetBytes } from '../imagenet.js';
import type { BenchContext, BenchRecord } from '../types.js';

const JOB = join(dirname(fileURLToPath(import.meta.url)), '..', 'imagenet-job.ts');
const GIB = 1024 ** 3;
const WEIGHT_GOAL_MS = 20000;
const SAMPLES = 200;
const MEMORY_SAMPLES = [32, 200, 1000];
const DATA_SEED = 7;

function memoryCapBytes(): number {
  const cap = Number(process.env.CLAFUSION_BENCH_MEMORY_CAP_GIB ?? 6);
  return (Number.isFinite(cap) && cap > 0 ? cap : 6) * GIB;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function residentBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

type JobOutcome = { result: ImagenetJobResult } | { failure: string; ms: number };

/** Runs one job in a child process (tsx's loader passed on), stopping it at the memory cap. */
function runJob(spec: ImagenetJob): Promise<JobOutcome> {
  const chunk = Number(process.env.CLAFUSION_BENCH_IMAGENET_CHUNK);
  const memory = Number(process.env.CLAFUSION_BENCH_IMAGENET_MEMORY_GIB);
  const job: ImagenetJob = {
    ...spec,
    ...(Number.isInteger(chunk) && chunk > 0 ? { chunkSize: chunk } : {}),
    ...(spec.kind === 'fuse' && spec.samples > 0 && memory > 0 ? { memoryBytes: Math.round(memory * GIB) } : {}),
  };
  const cap = memoryCapBytes();
  const names = job.models.map((path) => path.replace(/^.*\//, '').replace(/\.onnx$/, '')).join(' + ');
  const budget = job.memoryBytes ? `, budget ${(job.memoryBytes / GIB).toFixed(1)} GiB` : '';
  const runs = job.chunkSize ? ` in runs of ${job.chunkSize}` : '';
  const what = job.samples > 0 ? `, ${job.samples} samples${runs}${budget}` : ', weight mode';
  console.error(`benchmarks: imagenet: ${job.kind} ${names}${what}`);
  const start = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, JOB, JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    let capped = false;
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    const watch = setInterval(() => {
      if (child.pid === undefined || residentBytes(child.pid) <= cap) return;
      capped = true;
      child.kill('SIGKILL');
    }, 200);
    child.on('close', (code, signal) => {
      clearInterval(watch);
      const ms = performance.now() - start;
      if (capped) resolve({ failure: `stopped at the ${(cap / GIB).toFixed(0)} GiB memory cap after ${(ms / 1000).toFixed(0)} s`, ms });
      else if (code !== 0) resolve({ failure: `exited with ${signal ?? `code ${code}`} after ${(ms / 1000).toFixed(0)} s`, ms });
      else resolve({ result: JSON.parse(stdout.trim().split('\n').pop()!) as ImagenetJobResult });
    });
  });
}

function gib(kib: number): string {
  return `${(kib / 1024 ** 2).toFixed(2)} GiB`;
}

/** The streaming budget and the peak RSS of each stage. */
function memoryNote(result: ImagenetJobResult): string {
  const peaks = Object.entries(result.stagePeakKiB ?? {}).map(([stage, kib]) => `${stage} ${gib(kib)}`).join(', ');
  const budget = result.budgetBytes ? `budget ${gib(result.budgetBytes / 1024)}; ` : '';
  return `${budget}peak RSS by stage: ${peaks}`;
}

function stages(result: ImagenetJobResult): string {
  return Object.entries(result.timings ?? {}).map(([stage, ms]) => `${stage} ${(ms / 1000).toFixed(1)}`).join(', ');
}

function failed(name: string, size: string, outcome: { failure: string; ms: number }): BenchRecord {
  return { case: name, size, ours_ms: outcome.ms, baseline: 'none', baseline_ms: null, ratio: null, note: outcome.failure };
}

/** Fused parameters over the deeper model's, with the goal. */
function sizeNote(result: ImagenetJobResult): string {
  const { fused, models } = result.parameters!;
  const deeper = Math.max(...models);
  return `fused ${(fused / 1e6).toFixed(1)} M parameters = ${(fused / deeper).toFixed(3)}x the deeper model's (goal <= 1.05x)`;
}

async function weightMode(name: string, models: string[], repetitions: number): Promise<BenchRecord> {
  const size = '224x224, weight mode, no data';
  const outcome = await runJob({ kind: 'fuse', models, samples: 0, dataSeed: DATA_SEED, repetitions });
  if (!('result' in outcome)) return failed(name, size, outcome);
  const { result } = outcome;
  const ours = median(result.ms);
  const note = `${sizeNote(result)}; CPU ${(median(result.cpuMs) / 1000).toFixed(1)} s; stages (s): ${stages(result)}; ` +
    `peak RSS ${gib(result.peakKiB)}`;
  return { case: name, size, ours_ms: ours, baseline: `goal ${WEIGHT_GOAL_MS} ms`, baseline_ms: WEIGHT_GOAL_MS, ratio: WEIGHT_GOAL_MS / ours, goal: 1, note };
}

async function activationMode(name: string, models: string[], samples: number): Promise<BenchRecord> {
  const size = `224x224, ${samples} smooth samples`;
  const forward = await runJob({ kind: 'forward', models, samples, dataSeed: DATA_SEED, repetitions: 1 });
  if (!('result' in forward)) return failed(name, size, forward);
  const fusion = await runJob({ kind: 'fuse', models, samples, dataSeed: DATA_SEED, repetitions: 1 });
  const baseline = forward.result.ms[0];
  if (!('result' in fusion)) return { ...failed(name, size, fusion), baseline: 'ORT forward of both models', baseline_ms: baseline };
  const ours = fusion.result.ms[0];
  const note = `fusion = ${(ours / baseline).toFixed(2)}x the forward pass (goal <= 3x); peak RSS ${gib(fusion.result.peakKiB)} ` +
    `(goal <= 4 GiB; the forward pass alone ${gib(forward.result.peakKiB)}); ${memoryNote(fusion.result)}; ` +
    `${sizeNote(fusion.result)}; stages (s): ${stages(fusion.result)}`;
  return { case: name, size, ours_ms: ours, baseline: 'ORT forward of both models', baseline_ms: baseline, ratio: baseline / ours, goal: 1 / 3, note };
}

async function memoryRow(models: string[], samples: number): Promise<BenchRecord> {
  const name = 'imagenet-resnet50+50-memory';
  const size = `224x224, ${samples} smooth samples`;
  const outcome = await runJob({ kind: 'fuse', models, samples, dataSeed: DATA_SEED, repetitions: 1 });
  if (!('result' in outcome)) return failed(name, size, outcome);
  const { result } = outcome;
  const note = `peak RSS ${gib(result.peakKiB)}; ${memoryNote(result)}; stages (s): ${stages(result)}`;
  return { case: name, size, ours_ms: result.ms[0], baseline: 'none', baseline_ms: null, ratio: null, note };
}

const PAIRS: [string, string[]][] = [
  ['resnet101+50', ['resnet101', 'resnet50a']],
  ['resnet152+101', ['resnet152', 'resnet101']],
];

const MODELS: Record<string, [ResnetDepth, number]> = {
  resnet50a: [50, 1], resnet50b: [50, 2], resnet101: [101, 3], resnet152: [152, 4],
};

/** Paths of the models as ONNX files in `dir`, each generated when first asked for. */
function modelFiles(dir: string): (names: string[]) => Promise<string[]> {
  const made = new Map<string, string>();
  return async (names) => {
    for (const name of names.filter((n) => !made.has(n))) {
      console.error(`benchmarks: imagenet: generating ${name}`);
      const path = join(dir, `${name}.onnx`);
      writeFileSync(path, await imagenetResnetBytes(...MODELS[name]));
      made.set(name, path);
    }
    return names.map((name) => made.get(name)!);
  };
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  if (!ctx.large) {
    console.error('benchmarks: imagenet: skipped (the ImageNet-scale cases run with --large)');
    return [];
  }
  const dir = mkdtempSync(join(tmpdir(), 'clafusion-imagenet-'));
  try {
    const files = modelFiles(dir);
    const parts = (process.env.CLAFUSION_BENCH_IMAGENET_PARTS ?? 'weights,activations,memory').split(',');
    const records: BenchRecord[] = [];
    const chosen = (process.env.CLAFUSION_BENCH_IMAGENET_PAIRS ?? 'resnet101+50,resnet152+101').split(',');
    const pairs = PAIRS.filter(([pair]) => chosen.includes(pair));
    const override = Number(process.env.CLAFUSION_BENCH_IMAGENET_SAMPLES);
    const smoke = Number.isInteger(override) && override >= 2 ? override : undefined;
    for (const [pair, models] of parts.includes('weights') ? pairs : []) {
      records.push(await weightMode(`imagenet-${pair}-weights`, await files(models), ctx.quick ? 1 : 3));
    }
    for (const [pair, models] of parts.includes('activations') ? pairs : []) {
      records.push(await activationMode(`imagenet-${pair}-activations`, await files(models), smoke ?? SAMPLES));
    }
    const memorySamples = smoke ? [smoke] : ctx.quick ? [32] : MEMORY_SAMPLES;
    for (const samples of parts.includes('memory') ? memorySamples : []) {
      records.push(await memoryRow(await files(['resnet50a', 'resnet50b']), samples));
    }
    return records;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
