/** The pass plan from the memory budget (lib/stats/stream.ts planPass) and the tap shapes it is computed from. */
import { expect } from 'chai';
import { tapKey } from '../../lib/fusion/activations.js';
import { availableMemoryBytes } from '../../lib/resources.js';
import {
  DEFAULT_MEMORY_CAP_BYTES, RUN_BYTES, RUN_COPIES, defaultMemoryBytes, passBudget, planPass, tapShapes,
} from '../../lib/stats/stream.js';
import { buildResnet } from '../fusion/helpers.js';

describe('streaming pass plan', () => {
  it('the default budget is a quarter of the free memory up to 2 GiB, raised to what a pass needs when a quarter holds it', function () {
    const quarter = Math.floor(availableMemoryBytes() / 4);
    expect(defaultMemoryBytes()).to.equal(Math.min(DEFAULT_MEMORY_CAP_BYTES, quarter));
    expect(passBudget(12345, 2 ** 40)).to.equal(12345); // the option wins, even when too small (the plan says so)
    expect(passBudget(undefined, 1)).to.equal(defaultMemoryBytes());
    expect(passBudget(undefined, 2 ** 50)).to.equal(Math.max(defaultMemoryBytes(), quarter)); // never beyond a quarter
    const least = DEFAULT_MEMORY_CAP_BYTES + 2 ** 20;
    if (quarter < least) this.skip(); // a machine with under ~8 GiB free: nothing to raise
    expect(passBudget(undefined, least)).to.equal(least);
  });

  const MiB = 2 ** 20;
  const sizes = { fixed: 1000, run: MiB, gram: MiB / 2 };

  it('runs of RUN_BYTES of tap outputs whatever the budget (chunkSize caps them); Gram rows in memory if they fit', () => {
    const plan = planPass(200, sizes, 1e12);
    expect(plan).to.deep.equal({ run: RUN_BYTES / MiB, grams: 'memory', gramRoom: 1e12 - 1000 });
    expect(planPass(200, sizes, 1e12, { chunkSize: 7 }).run).to.equal(7);
    expect(planPass(5, sizes, 1e12).run).to.equal(5);
    expect(planPass(200, { ...sizes, run: 4 * RUN_BYTES }, 1e12).run).to.equal(1);
  });

  it('Gram rows spill when they do not fit beside the accumulators and one run; runs shrink to the budget', () => {
    const budget = 1000 + 100 * (MiB / 2) + RUN_COPIES * 4 * MiB;
    // On disk the rows leave the budget to the runs: (100 / 2 + 12) MiB / 3 MiB, capped by RUN_BYTES.
    const gramRoom = budget - 1000;
    expect(planPass(200, sizes, budget)).to.deep.equal({ run: 20, grams: 'disk', gramRoom });
    expect(planPass(100, sizes, budget)).to.deep.equal({ run: 4, grams: 'memory', gramRoom });
    expect(planPass(100, sizes, budget, { gramRows: 'disk' }).grams).to.equal('disk');
    expect(planPass(200, { ...sizes, gram: 0 }, budget).grams).to.equal('none');
  });

  it('a budget below the accumulators and one sample\'s run is E_RESOURCE, naming what it needs', () => {
    const least = 1000 + RUN_COPIES * MiB;
    expect(() => planPass(200, sizes, least - 1)).to.throw(/too small .* need/).with.property('code', 'E_RESOURCE');
    expect(() => planPass(200, sizes, least - 1, { chunkSize: 1 })).to.throw().with.property('code', 'E_RESOURCE');
    expect(planPass(200, sizes, least)).to.include({ run: 1, grams: 'disk' });
    expect(() => planPass(200, sizes, least, { gramRows: 'memory' })).to.throw().with.property('code', 'E_RESOURCE');
  });

  it('tap shapes: pre-activations of every layer (branches and shortcuts too) and every unit output', () => {
    const network = buildResnet([2, 1], [4, 6], [2, 8, 8], 3, { seed: 1, batchNorm: true });
    const shapes = tapShapes(network);
    for (const unit of network.segments.flatMap((s) => s.units)) {
      expect(shapes.has(tapKey({ layer: unit.name, point: 'output' })), unit.name).to.equal(true);
      if (unit.type === 'residual') for (const layer of unit.branch) expect(shapes.get(tapKey({ layer: layer.name, point: 'preact' }))![0]).to.equal(layer.op.weight.shape[0]);
    }
    expect(shapes.get(tapKey({ layer: network.classifier.name, point: 'preact' }))).to.deep.equal([3]);
  });
});
