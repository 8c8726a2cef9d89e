/**
 * Gram rows spilled to temp files (lib/stats/rows.ts) against the rows held in memory: the same statistics bit for
 * bit for any run size, no temp file left after success, an abort or a failed write, and coded errors when the
 * disk or the budget has no room.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dataset } from '../../lib/data/dataset.js';
import { MemorySource, type SampleSource } from '../../lib/data/source.js';
import { alignmentRequest } from '../../lib/fusion/cla/index.js';
import { readNetwork } from '../../lib/graph/recognise.js';
import type { Network } from '../../lib/ir/network.js';
import { GramAccumulator } from '../../lib/stats/accumulators.js';
import { SpillRows, checkSpillRoom, spillPanel } from '../../lib/stats/rows.js';
import type { Statistics, StatisticsRequest } from '../../lib/stats/statistics.js';
import { type StreamOptions, streamStatistics } from '../../lib/stats/stream.js';
import { representationTaps } from '../../lib/fusion/cla/index.js';
import { rng } from '../fusion/helpers.js';
import { expectRejects } from '../support/errors.js';

const SAMPLES = 24;
const ROOT = join(import.meta.dirname, '..', '..');

/** Random 1x28x28 uint8 images; `onRead` sees every read (the pass reads one run of samples at a time). */
class WatchedSource implements SampleSource {
  readonly encoding = 'u8';
  readonly count = SAMPLES;
  readonly sampleSize = 28 * 28;
  private readonly inner: MemorySource;
  reads = 0;

  constructor(private readonly onRead: (reads: number) => void = () => undefined) {
    const random = rng(5);
    const pixels = Uint8Array.from({ length: SAMPLES * 28 * 28 }, () => Math.floor(random() * 256));
    this.inner = new MemorySource(pixels, 28 * 28);
  }

  async read(indices: ArrayLike<number>): Promise<Uint8Array | Float32Array> {
    this.onRead(++this.reads);
    return this.inner.read(indices);
  }
}

function samplesOf(source: SampleSource): Dataset {
  return Dataset.fromSource(source, [1, 28, 28], null, 'random images');
}

function bits(values: Float64Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
}

/** Every Gram of the pass, bit for bit. */
function grams(statistics: Statistics, networks: Network[]): string[] {
  return networks.flatMap((network, m) => representationTaps(network).map((tap) => bits(statistics.gram(m, tap))));
}

describe('spilled Gram rows', function () {
  this.timeout(120_000);
  let networks: Network[];
  let request: StatisticsRequest;
  let dir: string;
  before(() => {
    networks = ['resnet_deep', 'resnet_shallow'].map((name) => readNetwork(`examples/models/${name}.onnx`));
    request = alignmentRequest(networks[0], networks[1], 0, 1, 'cka');
  });
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'clafusion-spill-test-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  const pass = (options: StreamOptions, source: SampleSource = new WatchedSource()) =>
    streamStatistics(networks, request, samplesOf(source), { spillDir: dir, ...options });

  it('give the Grams of rows held in memory, bit for bit, for runs of 1, 7 and all samples; no file left', async () => {
    const expected = grams(await pass({ gramRows: 'memory' }), networks);
    for (const chunkSize of [1, 7, SAMPLES]) {
      const seen: string[][] = [];
      // While the models run, the spill folder holds one file per Gram tap.
      const source = new WatchedSource((reads) => {
        if (reads === 2) seen.push(readdirSync(dir).flatMap((d) => readdirSync(join(dir, d))));
      });
      const spilled = await pass({ gramRows: 'disk', chunkSize }, source);
      expect(grams(spilled, networks), `runs of ${chunkSize}`).to.deep.equal(expected);
      if (chunkSize < SAMPLES) expect(seen[0]).to.have.length(expected.length);
      expect(readdirSync(dir), `runs of ${chunkSize}`).to.deep.equal([]);
    }
  });

  it('a budget that does not hold every sample\'s Gram rows spills them (the same Grams)', async () => {
    const expected = grams(await pass({ gramRows: 'memory' }), networks);
    let spilled = 0;
    const source = new WatchedSource((reads) => { if (reads === 2) spilled = readdirSync(dir).length; });
    const statistics = await pass({ memoryBytes: 2 * 2 ** 20 }, source);
    expect(spilled).to.equal(1);
    expect(grams(statistics, networks)).to.deep.equal(expected);
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('an abort during the pass rejects with E_ABORTED and removes the spill folder', async () => {
    const controller = new AbortController();
    const source = new WatchedSource((reads) => { if (reads === 3) controller.abort(); });
    await expectRejects(pass({ gramRows: 'disk', chunkSize: 2, signal: controller.signal }, source), 'E_ABORTED');
    expect(source.reads).to.be.at.least(3);
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('SIGTERM during the pass: the process still dies of it and leaves no spill folder', async () => {
    // The child spills a pass in runs of one sample and reports the second read; the signal comes then.
    const lib = (path: string) => JSON.stringify(join(ROOT, 'lib', path));
    const script = `
      import { Dataset } from ${lib('data/dataset.ts')};
      import { MemorySource } from ${lib('data/source.ts')};
      import { alignmentRequest } from ${lib('fusion/cla/index.ts')};
      import { readNetwork } from ${lib('graph/recognise.ts')};
      import { streamStatistics } from ${lib('stats/stream.ts')};
      const networks = ['resnet_deep', 'resnet_shallow'].map((n) => readNetwork('examples/models/' + n + '.onnx'));
      const inner = new MemorySource(new Uint8Array(${SAMPLES} * 784).fill(7), 784);
      let reads = 0;
      const source = { encoding: 'u8', count: ${SAMPLES}, sampleSize: 784, read: async (indices) => {
        if (++reads === 2) { process.stdout.write('r'); await new Promise((resolve) => setTimeout(resolve, 10000)); }
        return inner.read(indices);
      } };
      const samples = Dataset.fromSource(source, [1, 28, 28], null, 'images');
      await streamStatistics(networks, alignmentRequest(networks[0], networks[1], 0, 1, 'cka'), samples,
        { spillDir: ${JSON.stringify(dir)}, gramRows: 'disk', chunkSize: 1 });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    expect(readdirSync(dir)).to.have.length(1);
    child.kill('SIGTERM');
    const [code, killedBy] = await new Promise<[number | null, string | null]>(
      (resolve) => child.on('exit', (c, k) => resolve([c, k])));
    expect([code, killedBy]).to.deep.equal([null, 'SIGTERM']);
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('a full disk while spilling is E_RESOURCE, and the spill folder is removed', async () => {
    const rows = await SpillRows.create(dir, 4, [{ model: 0, key: 'a', features: 8 }], ['/dev/full']);
    expect(readdirSync(dir)).to.have.length(1);
    await expectRejects(rows.append(0, [new Map([['a', new Float32Array(32)]])]), 'E_RESOURCE', /filled up/);
    await rows.close();
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('no room on the disk for every sample\'s rows is E_RESOURCE before anything is written', () => {
    expect(() => checkSpillRoom(dir, 2 ** 60)).to.throw(/fit neither the memory budget nor the disk .*SPILL_DIR/)
      .with.property('code', 'E_RESOURCE');
    expect(() => checkSpillRoom(join(dir, 'missing'), 1)).to.throw().with.property('code', 'E_IO');
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('a budget too small for the accumulators and one sample is E_RESOURCE before the models run', async () => {
    const source = new WatchedSource();
    const tiny = pass({ gramRows: 'disk', memoryBytes: 64 * 1024 }, source);
    await expectRejects(tiny, 'E_RESOURCE', /memory budget .* too small/);
    expect(source.reads).to.equal(0);
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('spill folders of killed processes are removed by the next spill; live ones are kept', async () => {
    const pid = 'process.stdout.write(String(process.pid))';
    const dead = spawnSync(process.execPath, ['-e', pid], { encoding: 'utf8' }).stdout; // a pid that has gone
    const stale = `clafusion-spill-${dead}-AbC123`;
    const live = `clafusion-spill-${process.ppid}-AbC123`;
    for (const name of [stale, live]) mkdirSync(join(dir, name));
    await pass({ gramRows: 'disk' });
    expect(readdirSync(dir)).to.deep.equal([live]);
  });

  it('panels: all rows when they fit, else two buffers of p rows; a Gram from panels equals one block', async () => {
    expect(spillPanel(10, 4, 160)).to.equal(10);
    expect(spillPanel(10, 4, 159)).to.equal(4);
    expect(spillPanel(10, 4, 31)).to.equal(0);
    const random = rng(3);
    const rows = Float32Array.from({ length: 10 * 4 }, () => random() - 0.5);
    const whole = new GramAccumulator(10, 4);
    await whole.add(rows, 0, rows, 0);
    const spill = await SpillRows.create(dir, 10, [{ model: 0, key: 'x', features: 4 }]);
    try {
      for (let s = 0; s < 10; s += 3) {
        await spill.append(s, [new Map([['x', rows.subarray(s * 4, Math.min(10, s + 3) * 4)]])]);
      }
      const panels = new GramAccumulator(10, 4);
      await spill.accumulate({ model: 0, key: 'x', features: 4 }, panels, 3 * 2 * 16);
      expect(bits(panels.gram())).to.equal(bits(whole.gram()));
    } finally {
      await spill.close();
    }
  });
});
