/**
 * `clafusion bench`: times the OT library's solvers on seeded problems (lib/bench) and prints a table, or JSON with
 * every repetition's time. Results on stdout, progress on stderr; bad option values are E_ARG (exit 2).
 */
import { Command } from 'commander';
import {
  BENCH_SOLVERS, benchmarkSolvers, type BenchFamily, type BenchOptions, type BenchReport, type BenchResult,
  type BenchSize, type BenchSolver,
} from '../bench/index.js';
import { requireArg } from '../errors.js';
import type { DeviceOption } from '../solvers/device.js';
import type { CliStreams } from './args.js';

interface BenchFlags {
  solver?: string;
  sizes?: string;
  family?: string;
  reg?: string;
  dim?: string;
  repeat?: string;
  threads?: string;
  device?: string;
  seed?: string;
  json?: boolean;
}

function listOf(text: string): string[] {
  return text.split(',').map((item) => item.trim());
}

/** `256`, or `1024x512` for n x m. */
function parseSize(text: string): BenchSize {
  const match = /^(\d+)(?:x(\d+))?$/.exec(text);
  requireArg(match, `--sizes: expected sizes like 256 or 1024x512, got '${text}'`);
  const n = Number(match[1]);
  return { n, m: match[2] === undefined ? n : Number(match[2]) };
}

/** A whole number as typed; its range is checked by benchmarkSolvers. */
function integerFlag(text: string, flag: string): number {
  requireArg(/^\d+$/.test(text), `${flag}: expected a whole number, got '${text}'`);
  return Number(text);
}

function numberFlag(text: string, flag: string): number {
  const value = Number(text);
  requireArg(text.trim() !== '' && Number.isFinite(value), `${flag}: expected a number, got '${text}'`);
  return value;
}

/** The flags as benchmarkSolvers options (the syntax is checked here, the values there). */
export function benchOptionsOf(flags: BenchFlags): BenchOptions {
  const integer = (text: string | undefined, flag: string) => (text === undefined ? undefined : integerFlag(text, flag));
  return {
    solvers: flags.solver === undefined ? undefined : listOf(flags.solver) as BenchSolver[],
    sizes: flags.sizes === undefined ? undefined : listOf(flags.sizes).map(parseSize),
    family: flags.family as BenchFamily | undefined,
    reg: flags.reg === undefined ? undefined : numberFlag(flags.reg, '--reg'),
    dim: integer(flags.dim, '--dim'),
    repeat: integer(flags.repeat, '--repeat'),
    threads: integer(flags.threads, '--threads'),
    device: flags.device as DeviceOption | undefined,
    seed: integer(flags.seed, '--seed'),
  };
}

function sizeLabel(r: BenchResult): string {
  return r.solver === 'cka' ? `${r.n} samples` : `${r.n}x${r.m}`;
}

function yesNo(value: boolean | null): string {
  return value === null ? '-' : value ? 'yes' : 'NO';
}

const COLUMNS: Array<[string, (r: BenchResult) => string]> = [
  ['solver', (r) => r.solver],
  ['size', sizeLabel],
  ['device', (r) => r.device],
  ['method', (r) => r.method],
  ['iters', (r) => (r.iterations === null ? '-' : String(r.iterations))],
  ['ok', (r) => yesNo(r.converged)],
  ['error', (r) => (r.error === null ? '-' : r.error.toExponential(1))],
  ['median ms', (r) => r.medianMs.toFixed(2)],
  ['min ms', (r) => r.minMs.toFixed(2)],
  ['GFLOP/s', (r) => (r.gflops === null ? '-' : r.gflops.toFixed(1))],
  ['value', (r) => (r.value === null ? '-' : r.value.toPrecision(6))],
];

/** The report as an aligned text table, text columns left-aligned and numbers right-aligned. */
export function formatBenchTable(report: BenchReport): string {
  const rows = report.results.map((r) => COLUMNS.map(([, cell]) => cell(r)));
  const header = COLUMNS.map(([name]) => name);
  const widths = header.map((name, k) => Math.max(name.length, ...rows.map((row) => row[k].length)));
  const leftAligned = 4;
  const line = (cells: string[]) => cells.map((c, k) => (k < leftAligned ? c.padEnd(widths[k]) : c.padStart(widths[k]))).join('  ').trimEnd();
  const title = `${report.family} problems, d=${report.dim}, sinkhorn ε=${report.reg}·median(M), ${report.repeat} runs after a warm-up, ` +
    `${report.threads} threads, device ${report.device} (addon: ${report.backend}), seed ${report.seed}`;
  return [title, line(header), ...rows.map(line)].join('\n');
}

function progressReporter(stderr: CliStreams['stderr']): BenchOptions['onProgress'] {
  return (done, total, solver, size) => {
    const text = `bench: ${solver} ${size.n}x${size.m} (${done + 1}/${total})`;
    stderr.write(stderr.isTTY ? `\r\x1b[K${text}` : `${text}\n`);
  };
}

export function benchCommand(io: CliStreams = { stdout: process.stdout, stderr: process.stderr }): Command {
  return new Command('bench')
    .description('Time the OT solvers (emd, sinkhorn, distances, cka, cla) on seeded problems; no Python needed.')
    .option('--solver <list>', `comma-separated solvers: ${BENCH_SOLVERS.join(', ')} (default: all)`)
    .option('--sizes <list>', 'comma-separated problem sizes, n or NxM (default: 256,512,1024)')
    .option('--family <family>', 'fusion (Y = X[perm] + 0.5·noise) or random (i.i.d. Gaussian clouds) (default: fusion)')
    .option('--reg <reg>', 'sinkhorn ε as a fraction of the median cost (default: 0.01)')
    .option('--dim <d>', 'point dimension (default: 64)')
    .option('--repeat <r>', 'timed runs per problem, after one warm-up (default: 5)')
    .option('--threads <n>', 'native threads (default: every core)')
    .option('--device <device>', 'auto, cpu or cuda, for sinkhorn and distances (default: auto)')
    .option('--seed <s>', 'problem seed: the same seed gives the same problems (default: 1)')
    .option('--json', 'print the report as JSON, with every repetition\'s time')
    .addHelpText('after', '\nProblems: point clouds X (n x d) and Y (m x d), squared-euclidean cost M, uniform marginals. ' +
      'cka compares two n x d\nrepresentations of n samples; cla aligns max(n, m) deep to min(n, m) shallow layers on M.\n\n' +
      'Example: clafusion bench --solver emd,sinkhorn --sizes 512,1024x512 --family random --repeat 3 --threads 2')
    .action(async (flags: BenchFlags) => {
      const report = await benchmarkSolvers({ ...benchOptionsOf(flags), onProgress: progressReporter(io.stderr) });
      if (io.stderr.isTTY) io.stderr.write('\n');
      io.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatBenchTable(report)}\n`);
    });
}
