#!/usr/bin/env node
// GPU check of the CUDA addon against the CPU kernels of the same addon, for a machine with a GPU but no npm
// packages: plain CommonJS, loads the .node file directly. Prepared and run by scripts/gpu-check.sh.
//
//   node scripts/gpu/check.cjs <clafusion_cuda.node> <output folder> [--quick]
//
// For each size it solves the same problem on both backends and records: agreement (max |GPU - CPU| relative to
// max |CPU|), the marginal errors of each plan, bit-identical GPU reruns, and the median wall time of 5 calls
// (host <-> device copies included). Without a device it runs the same code on tiny sizes with the CPU standing in
// for the GPU, to check the script itself. Edge cases (n != m, zero-mass marginals, running out of iterations,
// the async twins) are checked first. Results go to <output folder>/gpu-check.json after every case.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const [addonPath, outDir] = process.argv.slice(2);
if (!addonPath || !outDir) {
  console.error('usage: node scripts/gpu/check.cjs <clafusion_cuda.node> <output folder> [--quick]');
  process.exit(2);
}
const addon = require(path.resolve(addonPath));
const threads = os.availableParallelism();
const hasDevice = addon.buildInfo().cudaDevices > 0;
const quick = process.argv.includes('--quick') || !hasDevice;
const REPEATS = 5;
const DEADLINE_MS = 150_000; // leave the device call time to write and return its results
const CASE_BUDGET_MS = 15_000;
const started = Date.now();

const report = {
  startedAt: new Date().toISOString(),
  node: process.version,
  cpuThreads: threads,
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  buildInfo: addon.buildInfo(),
  cudaInfo: addon.cudaInfo ? addon.cudaInfo() : null,
  dryRun: !hasDevice,
  sinkhorn: [],
  distances: [],
  skipped: [],
};

function save() {
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'gpu-check.json');
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(report, null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

/** mulberry32: a small seeded generator, so every run solves the same problems. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** rows x d standard normal values (Box-Muller), float32. */
function gaussian(rows, d, seed) {
  const next = random(seed);
  const values = new Float32Array(rows * d);
  for (let i = 0; i < values.length; i++) {
    values[i] = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  }
  return values;
}

function median(values) {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid]);
}

/** Median wall time (ms) of REPEATS calls of fn (fewer once they have taken CASE_BUDGET_MS), and the first result. */
function timed(fn) {
  const times = [];
  let first;
  const begun = Date.now();
  for (let r = 0; r < REPEATS && (r < 2 || Date.now() - begun < CASE_BUDGET_MS); r++) {
    const t0 = process.hrtime.bigint();
    const result = fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r === 0) first = result;
  }
  return { ms: median(times), times, result: first };
}

function maxAbs(values) {
  let largest = 0;
  for (const v of values) largest = Math.max(largest, Math.abs(v));
  return largest;
}

function relativeMaxDiff(got, want) {
  let largest = 0;
  for (let i = 0; i < want.length; i++) largest = Math.max(largest, Math.abs(got[i] - want[i]));
  return largest / maxAbs(want);
}

function sameBits(x, y) {
  return Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.byteLength), Buffer.from(y.buffer, y.byteOffset, y.byteLength)) === 0;
}

/** ||P 1 - a||_2 and ||P^T 1 - b||_2 in double. */
function marginalErrors(plan, a, b) {
  const n = a.length, m = b.length;
  const cols = new Float64Array(m);
  let rowError = 0;
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < m; j++) {
      sum += plan[i * m + j];
      cols[j] += plan[i * m + j];
    }
    rowError += (sum - a[i]) ** 2;
  }
  let colError = 0;
  for (let j = 0; j < m; j++) colError += (cols[j] - b[j]) ** 2;
  return { rows: Math.sqrt(rowError), columns: Math.sqrt(colError) };
}

function medianOf(values) {
  return median(Array.from(values));
}

function overDeadline(what) {
  if (Date.now() - started < DEADLINE_MS) return false;
  report.skipped.push(`${what}: time budget spent`);
  console.log(`skip ${what}: time budget spent`);
  return true;
}

// Without a device the CPU stands in for the GPU (same call shapes), so the script can be checked anywhere.
const gpuSinkhorn = hasDevice ? addon.cudaSinkhornSync : (a, b, M, o) => addon.sinkhornSync(a, b, M, { ...o, epsilonScaling: 'off' });
const gpuDistances = hasDevice ? addon.cudaPairwiseDistancesSync : (X, n, Y, m, d, metric) => addon.pairwiseDistancesSync(X, n, Y, m, d, metric, 1);

function sinkhornCase(n, d) {
  const X = gaussian(n, d, 1000 + n);
  const Y = gaussian(n, d, 2000 + n);
  const M = addon.pairwiseDistancesSync(X, n, Y, n, d, 'sqeuclidean', threads);
  const a = new Float64Array(n).fill(1 / n);
  const b = new Float64Array(n).fill(1 / n);
  const epsilon = 0.01 * medianOf(M);
  const options = { reg: epsilon, regMode: 'absolute', tolerance: 1e-9, maxIterations: 10000, checkEvery: 10, throwOnNonConvergence: false };
  const gpu = timed(() => gpuSinkhorn(a, b, M, options));
  const gpuAgain = gpuSinkhorn(a, b, M, options);
  const cpu = timed(() => addon.sinkhornSync(a, b, M, { ...options, threads }));
  const record = {
    n, d, epsilon, tolerance: options.tolerance,
    gpu: { ms: gpu.ms, times: gpu.times, iterations: gpu.result.iterations, error: gpu.result.error, converged: gpu.result.converged,
      cost: gpu.result.cost, marginals: marginalErrors(gpu.result.plan, a, b), msPerIteration: gpu.ms / gpu.result.iterations },
    cpu: { ms: cpu.ms, times: cpu.times, iterations: cpu.result.iterations, logSteps: cpu.result.logSteps, error: cpu.result.error,
      converged: cpu.result.converged, cost: cpu.result.cost, marginals: marginalErrors(cpu.result.plan, a, b) },
    planRelativeMaxDiff: relativeMaxDiff(gpu.result.plan, cpu.result.plan),
    costRelativeDiff: Math.abs(gpu.result.cost - cpu.result.cost) / Math.abs(cpu.result.cost),
    gpuBitIdenticalRerun: sameBits(gpu.result.plan, gpuAgain.plan),
    speedup: cpu.ms / gpu.ms,
  };
  console.log(`sinkhorn n=${n}: GPU ${gpu.ms.toFixed(2)} ms (${record.gpu.iterations} it, err ${record.gpu.error.toExponential(2)}), ` +
    `CPU ${cpu.ms.toFixed(2)} ms (${record.cpu.iterations} it), x${record.speedup.toFixed(1)}, plan diff ${record.planRelativeMaxDiff.toExponential(2)}, ` +
    `bit-identical rerun ${record.gpuBitIdenticalRerun}`);
  return record;
}

function distanceCase(n, d, metric) {
  const X = gaussian(n, d, 3000 + n);
  const Y = gaussian(n, d, 4000 + n);
  const gpu = timed(() => gpuDistances(X, n, Y, n, d, metric));
  const gpuAgain = gpuDistances(X, n, Y, n, d, metric);
  const cpu = timed(() => addon.pairwiseDistancesSync(X, n, Y, n, d, metric, threads));
  const record = {
    n, m: n, d, metric,
    gpuMs: gpu.ms, gpuTimes: gpu.times, cpuMs: cpu.ms, cpuTimes: cpu.times,
    gpuGflops: (2 * n * n * d) / (gpu.ms * 1e6),
    relativeMaxDiff: relativeMaxDiff(gpu.result, cpu.result),
    gpuBitIdenticalRerun: sameBits(gpu.result, gpuAgain),
    speedup: cpu.ms / gpu.ms,
  };
  console.log(`distances ${metric} n=${n} d=${d}: GPU ${gpu.ms.toFixed(2)} ms (${record.gpuGflops.toFixed(0)} GFLOP/s incl. copies), ` +
    `CPU ${cpu.ms.toFixed(2)} ms, x${record.speedup.toFixed(1)}, diff ${record.relativeMaxDiff.toExponential(2)}, bit-identical rerun ${record.gpuBitIdenticalRerun}`);
  return record;
}

/** The paths the timed cases miss: n != m, zero-mass marginals, running out of iterations, the async twins. */
async function edgeCases() {
  const checks = {};
  const gpuSinkhornAsync = hasDevice ? addon.cudaSinkhorn : (a, b, M, o) => addon.sinkhorn(a, b, M, { ...o, epsilonScaling: 'off' });
  const gpuDistancesAsync = hasDevice ? addon.cudaPairwiseDistances : (X, n, Y, m, d, metric) => addon.pairwiseDistances(X, n, Y, m, d, metric, 1);

  const [n, m, d] = [300, 257, 16];
  const M = addon.pairwiseDistancesSync(gaussian(n, d, 7), n, gaussian(m, d, 8), m, d, 'sqeuclidean', threads);
  const a = new Float64Array(n).fill(1 / n);
  const b = new Float64Array(m).fill(1 / m);
  const options = { reg: 0.05, regMode: 'median', throwOnNonConvergence: false };
  const gpu = gpuSinkhorn(a, b, M, options);
  const cpu = addon.sinkhornSync(a, b, M, options);
  const gpuAsync = await gpuSinkhornAsync(a, b, M, options);
  checks.rectangular = { n, m, converged: gpu.converged, error: gpu.error, sameEpsilon: gpu.epsilon === cpu.epsilon,
    planRelativeMaxDiff: relativeMaxDiff(gpu.plan, cpu.plan), asyncBitIdentical: sameBits(gpu.plan, gpuAsync.plan) };

  const zero = gpuSinkhorn(Float64Array.from([0.5, 0, 0.5]), Float64Array.from([0.25, 0.75, 0]),
    Float32Array.from([0, 1, 2, 1, 0, 1, 2, 1, 0]), { reg: 0.5, throwOnNonConvergence: false });
  checks.zeroMass = { converged: zero.converged, f1: String(zero.f[1]), g2: String(zero.g[2]),
    emptyRowAndColumn: [3, 4, 5, 2, 8].every((k) => zero.plan[k] === 0) };

  const hard = { reg: 0.001, regMode: 'median', maxIterations: 3 };
  let code = 'none';
  try {
    gpuSinkhorn(a, b, M, hard);
  } catch (err) {
    code = err.code;
  }
  const partial = gpuSinkhorn(a, b, M, { ...hard, throwOnNonConvergence: false });
  checks.maxIterations = { thrownCode: code, converged: partial.converged, iterations: partial.iterations };

  const X = gaussian(131, 37, 9);
  const Y = gaussian(257, 37, 10);
  const distances = gpuDistances(X, 131, Y, 257, 37, 'cosine');
  checks.distancesAsyncBitIdentical = sameBits(distances, await gpuDistancesAsync(X, 131, Y, 257, 37, 'cosine'));
  checks.passed = checks.rectangular.converged && checks.rectangular.sameEpsilon && checks.rectangular.planRelativeMaxDiff < 1e-5 &&
    checks.rectangular.asyncBitIdentical && checks.zeroMass.converged && checks.zeroMass.f1 === '-Infinity' &&
    checks.zeroMass.g2 === '-Infinity' && checks.zeroMass.emptyRowAndColumn && checks.maxIterations.thrownCode === 'E_SOLVER' &&
    !checks.maxIterations.converged && checks.maxIterations.iterations === 3 && checks.distancesAsyncBitIdentical;
  console.log(`edge cases: ${checks.passed ? 'passed' : 'FAILED'} ${JSON.stringify(checks)}`);
  return checks;
}

/** Runs one case; a failure is recorded with its error code and the remaining cases still run. */
function attempt(records, what, run) {
  try {
    records.push(run());
  } catch (err) {
    records.push({ case: what, failure: `${err.code ?? ''} ${err.message}` });
    console.log(`FAILED ${what}: ${err.code ?? ''} ${err.message}`);
  }
  save();
}

async function main() {
  console.log(JSON.stringify({ buildInfo: report.buildInfo, cudaInfo: report.cudaInfo, cpuThreads: threads, dryRun: report.dryRun }));
  save();
  // The first CUDA call creates the context (hundreds of ms): keep it out of the timings.
  gpuDistances(gaussian(8, 8, 1), 8, gaussian(8, 8, 2), 8, 8, 'sqeuclidean');
  try {
    report.edgeCases = await edgeCases();
  } catch (err) {
    report.edgeCases = { passed: false, failure: `${err.code ?? ''} ${err.message}` };
    console.log(`FAILED edge cases: ${report.edgeCases.failure}`);
  }
  save();
  const sinkhornSizes = quick ? [64, 200] : [512, 1024, 2048, 4096];
  const distanceSizes = quick ? [64, 300] : [2048, 4096, 8192];
  const d = 576;
  for (const n of sinkhornSizes) {
    if (overDeadline(`sinkhorn n=${n}`)) break;
    attempt(report.sinkhorn, `sinkhorn n=${n}`, () => sinkhornCase(n, d));
  }
  for (const n of distanceSizes) {
    if (overDeadline(`distances n=${n}`)) break;
    attempt(report.distances, `distances n=${n}`, () => distanceCase(n, d, 'sqeuclidean'));
  }
  for (const metric of ['euclidean', 'cosine']) {
    const n = distanceSizes[0] + 3; // not a multiple of the 128 tile: exercises the edge blocks
    if (overDeadline(`distances ${metric}`)) break;
    attempt(report.distances, `distances ${metric}`, () => distanceCase(n, d + 1, metric));
  }
  report.finishedAt = new Date().toISOString();
  save();
}

main().catch((err) => {
  report.failure = `${err.code ?? ''} ${err.stack ?? err}`;
  save();
  console.error(report.failure);
  process.exit(1);
});
