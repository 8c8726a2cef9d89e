import { expect } from 'chai';
import { CommanderError } from 'commander';
import { costProblem, ckaRepresentations, benchmarkSolvers, type BenchReport } from '../../lib/bench/index.js';
import { benchCommand } from '../../lib/cli/bench.js';
import { main } from '../../lib/cli/main.js';
import { isClafusionError } from '../../lib/errors.js';
import { gpuAvailable } from '../../lib/solvers/device.js';
import { runCommand } from '../support/cli.js';

function runBench(args: string[]) {
  return runCommand(benchCommand, args);
}

const SMALL = ['--sizes', '16,24x12', '--repeat', '2', '--threads', '1', '--device', 'cpu'];

function squaredDistance(x: Float32Array, i: number, y: Float32Array, j: number, d: number): number {
  let sum = 0;
  for (let k = 0; k < d; k++) sum += (x[i * d + k] - y[j * d + k]) ** 2;
  return sum;
}

describe('bench problems', () => {
  it('are the same bytes for the same seed and differ for another seed', () => {
    for (const family of ['fusion', 'random'] as const) {
      const first = costProblem(family, 40, 30, 8, 7);
      const again = costProblem(family, 40, 30, 8, 7);
      expect(Buffer.from(again.cost.buffer).equals(Buffer.from(first.cost.buffer))).to.equal(true);
      expect(Buffer.from(again.y.buffer).equals(Buffer.from(first.y.buffer))).to.equal(true);
      const other = costProblem(family, 40, 30, 8, 8);
      expect(Buffer.from(other.cost.buffer).equals(Buffer.from(first.cost.buffer))).to.equal(false);
    }
    const cka = ckaRepresentations('fusion', 20, 6, 3);
    expect(Buffer.from(ckaRepresentations('fusion', 20, 6, 3).y.buffer).equals(Buffer.from(cka.y.buffer))).to.equal(true);
  });

  it('hold the squared-euclidean cost of their point clouds', () => {
    const p = costProblem('random', 9, 5, 4, 2);
    expect(p.cost).to.have.length(45);
    for (const [i, j] of [[0, 0], [8, 4], [3, 2]]) {
      expect(p.cost[i * 5 + j]).to.be.closeTo(squaredDistance(p.x, i, p.y, j, 4), 1e-4);
    }
  });

  it('fusion: each point of Y is a noisy copy of a distinct point of X; random: no such match', () => {
    const nearest = (family: 'fusion' | 'random') => {
      const { cost, n, m } = costProblem(family, 32, 32, 64, 5);
      return Array.from({ length: m }, (_, j) => {
        const column = Array.from({ length: n }, (_, i) => cost[i * m + j]);
        const best = Math.min(...column);
        const second = Math.min(...column.filter((v) => v !== best));
        return { row: column.indexOf(best), gap: second / best };
      });
    };
    const fusion = nearest('fusion');
    expect(new Set(fusion.map((f) => f.row)).size).to.equal(32);
    // ||0.5 ξ||² ≈ 16 for the copy against ≈ 2d = 128 for any other point.
    expect(Math.min(...fusion.map((f) => f.gap))).to.be.greaterThan(3);
    expect(Math.min(...nearest('random').map((f) => f.gap))).to.be.lessThan(1.5);
  });
});

describe('clafusion bench', () => {
  it('prints a table with one row per solver and size, and progress on stderr', async () => {
    const { stdout, stderr, error } = await runBench(SMALL);
    expect(error).to.equal(null);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).to.match(/^fusion problems, d=64, sinkhorn ε=0\.01·median\(M\), 2 runs after a warm-up, 1 threads, device cpu/);
    expect(lines[1]).to.match(/^solver\s+size\s+device\s+method\s+iters\s+ok\s+error\s+median ms\s+min ms\s+GFLOP\/s\s+value$/);
    expect(lines).to.have.length(12);
    expect(lines[2]).to.match(/^emd\s+16x16\s+cpu\s+assignment\s+\d+\s+yes\s+-\s+\d+\.\d\d\s+\d+\.\d\d\s+-\s+\d/);
    expect(lines[4]).to.match(/^distances\s+16x16\s+cpu\s+sqeuclidean\s+-\s+-\s+-\s+\d+\.\d\d\s+\d+\.\d\d\s+\d+\.\d\s+-$/);
    expect(lines[10]).to.match(/^cka\s+24 samples\s+cpu/);
    expect(lines[11]).to.match(/^cla\s+24x12\s+cpu\s+dp/);
    expect(stderr.trim().split('\n')).to.deep.equal([
      ...['emd', 'sinkhorn', 'distances', 'cka', 'cla'].map((s, k) => `bench: ${s} 16x16 (${k + 1}/10)`),
      ...['emd', 'sinkhorn', 'distances', 'cka', 'cla'].map((s, k) => `bench: ${s} 24x12 (${k + 6}/10)`),
    ]);
  });

  it('prints JSON with every repetition, the same problems and values for the same seed', async () => {
    const args = [...SMALL, '--solver', 'emd,sinkhorn,distances,cka,cla', '--family', 'random', '--reg', '0.05', '--dim', '8', '--repeat', '3', '--seed', '9', '--json'];
    const { stdout, error } = await runBench(args);
    expect(error).to.equal(null);
    const report = JSON.parse(stdout) as BenchReport;
    expect(report).to.include({ family: 'random', dim: 8, reg: 0.05, repeat: 3, threads: 1, device: 'cpu', seed: 9 });
    expect(report.backend).to.be.oneOf(['cpu', 'cuda']);
    expect(report.results.map((r) => `${r.solver} ${r.n}x${r.m}`)).to.deep.equal([
      'emd 16x16', 'sinkhorn 16x16', 'distances 16x16', 'cka 16x16', 'cla 16x16',
      'emd 24x12', 'sinkhorn 24x12', 'distances 24x12', 'cka 24x24', 'cla 24x12',
    ]);
    for (const r of report.results) {
      expect(r.timesMs).to.have.length(3);
      expect(r.minMs).to.equal(Math.min(...r.timesMs));
      expect(r.medianMs).to.equal([...r.timesMs].sort((a, b) => a - b)[1]);
      expect(r).to.include({ d: 8, device: 'cpu', family: 'random' });
    }
    const [emd, sinkhorn, distances, cka, cla] = report.results.slice(5);
    expect(emd).to.include({ converged: true, error: null, gflops: null });
    expect(emd.method).to.be.oneOf(['assignment', 'network-simplex']);
    expect(sinkhorn.converged).to.equal(true);
    expect(sinkhorn.error).to.be.at.most(1e-9);
    // The entropic cost is above the exact one, on the same problem.
    expect(sinkhorn.value).to.be.greaterThan(emd.value!);
    expect(distances.gflops).to.be.greaterThan(0);
    expect(distances.value).to.equal(null);
    expect(cka.value).to.be.within(0, 1);
    expect(cla.value).to.be.greaterThan(0);
    const again = JSON.parse((await runBench(args)).stdout) as BenchReport;
    expect(again.results.map((r) => r.value)).to.deep.equal(report.results.map((r) => r.value));
  });

  it('rejects bad option values with E_ARG', async () => {
    const bad: string[][] = [
      ['--sizes', '0'], ['--sizes', '12x'], ['--sizes', '16,abc'], ['--sizes', '10000x10000'],
      ['--solver', 'emd,lp'], ['--solver', 'emd,emd'], ['--solver', ''],
      ['--dim', '40000', '--sizes', '1024'], ['--family', 'gaussian'], ['--reg', '0'], ['--reg', 'small'], ['--dim', '1.5'], ['--repeat', '0'],
      ['--threads', '-1'], ['--device', 'gpu'], ['--seed', '4294967296'],
    ];
    for (const args of bad) {
      const { error } = await runBench(args[0] === '--sizes' ? args : ['--sizes', '8', ...args]);
      expect(isClafusionError(error, 'E_ARG'), `${args.join(' ')}: ${String(error)}`).to.equal(true);
    }
    if (!gpuAvailable()) {
      const { error } = await runBench(['--device', 'cuda', '--sizes', '8']);
      expect(isClafusionError(error, 'E_ARG')).to.equal(true);
      expect((error as Error).message).to.match(/no CUDA device/);
    }
    const unknown = await runBench(['--size', '8']);
    expect(unknown.error).to.be.instanceOf(CommanderError);
  });

  it('exits with status 2 on a usage error through the clafusion entry', async () => {
    const write = process.stderr.write;
    let stderr = '';
    process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write;
    try {
      expect(await main(['bench', '--repeat', 'many'])).to.equal(2);
    } finally {
      process.stderr.write = write;
    }
    expect(stderr).to.match(/^clafusion: error \[E_ARG\]: --repeat: expected a whole number, got 'many'/);
  });
});

describe('benchmarkSolvers', () => {
  it('reports progress before each problem and defaults the rest', async () => {
    const seen: string[] = [];
    const report = await benchmarkSolvers({
      solvers: ['cla'], sizes: [{ n: 6, m: 4 }], repeat: 1, onProgress: (done, total, solver, size) => seen.push(`${done}/${total} ${solver} ${size.n}x${size.m}`),
    });
    expect(seen).to.deep.equal(['0/1 cla 6x4']);
    expect(report).to.include({ family: 'fusion', dim: 64, reg: 0.01, repeat: 1, device: 'auto', seed: 1 });
    expect(report.results[0].timesMs).to.have.length(1);
  });
});
