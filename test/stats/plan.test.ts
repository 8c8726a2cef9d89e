/** Chunk sizes from the memory budget (lib/stats/stream.ts planChunks) and the tap shapes they are computed from. */
import { expect } from 'chai';
import { tapKey } from '../../lib/fusion/activations.js';
import { planChunks, tapShapes } from '../../lib/stats/stream.js';
import { buildResnet } from '../fusion/helpers.js';

describe('streaming chunk plan', () => {
  it('one panel when every sample fits; otherwise panels and streamed chunks that fit the budget', () => {
    expect(planChunks(200, 1000, 10, 4, 1000 + 200 * 10)).to.deep.equal({ panel: 200, stream: 0 });
    expect(planChunks(200, 1000, 10, 0, 1000 + 50 * 10)).to.deep.equal({ panel: 50, stream: 0 });
    // With Grams a panel of p samples is held while chunks of p samples stream past: p (10 + 4) <= 1400.
    expect(planChunks(200, 1000, 10, 4, 1000 + 1400)).to.deep.equal({ panel: 100, stream: 100 });
    expect(planChunks(200, 1000, 10, 4, 1e9, 7)).to.deep.equal({ panel: 7, stream: 7 });
    expect(planChunks(5, 1000, 10, 4, 1e9, 7)).to.deep.equal({ panel: 5, stream: 0 });
  });

  it('a budget below one sample is E_RESOURCE, naming what it needs', () => {
    expect(() => planChunks(200, 1000, 10, 4, 1013)).to.throw(/too small .* need/).with.property('code', 'E_RESOURCE');
    expect(() => planChunks(200, 1000, 10, 4, 1013, 1)).to.throw().with.property('code', 'E_RESOURCE');
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
