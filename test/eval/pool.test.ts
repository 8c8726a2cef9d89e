import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { configureWorkerPool, ModelRunner, predictLogits } from '../../lib/eval/index.js';
import { workerPool } from '../../lib/eval/pool.js';
import { isClafusionError } from '../../lib/errors.js';
import { fixturePath, heavyModel } from './models.js';

const MLP_A = fixturePath('mlp_a.onnx');
const MLP_B = fixturePath('mlp_b.onnx');
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const input = { data: Float32Array.from({ length: 9 * 16 }, (_, i) => (i % 11) / 11), shape: [9, 1, 4, 4] };

describe('the ONNX Runtime worker pool', () => {
  const defaults = workerPool.bounds;
  beforeEach(() => workerPool.drain());
  afterEach(() => {
    configureWorkerPool(defaults);
    return workerPool.drain();
  });

  it('gives a closed runner\'s worker to the next runner, which serves its own model', async () => {
    const alone = await predictLogits(MLP_B, input, { threads: 1 });
    expect(workerPool.idleCount).to.equal(1);
    const first = await ModelRunner.open(MLP_A, { threads: 1 });
    expect(workerPool.idleCount, 'the idle worker was borrowed').to.equal(0);
    const fromA = await predictLogits(first, input);
    await first.close();
    expect(workerPool.idleCount).to.equal(1);
    expect(Array.from(await predictLogits(MLP_B, input, { threads: 1 }))).to.deep.equal(Array.from(alone));
    expect(Array.from(await predictLogits(MLP_A, input, { threads: 1 }))).to.deep.equal(Array.from(fromA));
    expect(Array.from(fromA)).to.not.deep.equal(Array.from(alone)); // the two models differ, so reuse was visible
  });

  it('keeps at most maxIdle workers; maxIdle 0 stops each worker at close', async () => {
    configureWorkerPool({ maxIdle: 1 });
    const runners = await Promise.all([ModelRunner.open(MLP_A, { threads: 1 }), ModelRunner.open(MLP_B, { threads: 1 })]);
    await Promise.all(runners.map((r) => r.close()));
    expect(workerPool.idleCount).to.equal(1);
    configureWorkerPool({ maxIdle: 0 });
    expect(workerPool.idleCount, 'shrinking the bound stops the surplus').to.equal(0);
    await predictLogits(MLP_A, input, { threads: 1 });
    expect(workerPool.idleCount).to.equal(0);
  });

  it('stops idle workers after idleMs', async () => {
    configureWorkerPool({ idleMs: 20 });
    await predictLogits(MLP_A, input, { threads: 1 });
    expect(workerPool.idleCount).to.equal(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(workerPool.idleCount).to.equal(0);
  });

  it('a runner closed mid-batch gives its worker back once the batch is done (a thread is never stopped inside ORT)', async () => {
    const model = heavyModel(1024, 6);
    const big = { x: { data: new Float32Array(2048 * 16).fill(0.5), shape: [2048, 16] } };
    const runner = await ModelRunner.open(model, { threads: 1 });
    const running = runner.run(big, ['logits']).then(() => null, (e: unknown) => e);
    await runner.close();
    expect(isClafusionError(await running, 'E_ABORTED')).to.equal(true);
    expect(workerPool.idleCount, 'still computing').to.equal(0);
    const started = performance.now();
    while (workerPool.idleCount === 0 && performance.now() - started < 30_000) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(workerPool.idleCount, 'back once the batch has finished').to.equal(1);
    // Stopping threads right after aborted batches used to abort the whole process (an uncaught C++ exception).
    for (let i = 0; i < 8; i++) {
      const r = await ModelRunner.open(model, { threads: 1 });
      const batch = r.run({ x: { data: new Float32Array(512 * 16).fill(0.5), shape: [512, 16] } }, ['logits']).catch(() => null);
      await new Promise((resolve) => setTimeout(resolve, 3 + 4 * i));
      await r.close();
      await batch;
      await workerPool.drain();
    }
  });

  it('rejects bad bounds with E_ARG', () => {
    for (const options of [{ maxIdle: -1 }, { maxIdle: 1.5 }, { idleMs: Number.NaN }]) {
      let err: unknown = null;
      try {
        configureWorkerPool(options);
      } catch (e) {
        err = e;
      }
      expect(isClafusionError(err, 'E_ARG'), JSON.stringify(options)).to.equal(true);
    }
  });

  it('idle workers do not keep the process alive', function () {
    this.timeout(60_000);
    const script = `import { predictLogits } from './lib/eval/index.ts';
      const logits = await predictLogits(${JSON.stringify(MLP_A)}, { data: new Float32Array(16), shape: [1, 1, 4, 4] }, { threads: 1 });
      console.log('done', logits.length);`;
    const started = performance.now();
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 50_000 });
    expect(child.stdout, child.stderr).to.contain('done 3');
    expect(child.status, 'the child exited by itself').to.equal(0);
    expect(performance.now() - started).to.be.below(50_000);
  });
});
