/** Which maps the slots of a ResNet read in reference mode (the published --handle-skips rules, spec §3.7). */
import { expect } from 'chai';
import { buildTopology } from '../../lib/fusion/otfuse/topology.js';
import { buildResnet } from './helpers.js';

/** The layer names whose maps align the inputs of `layer` (the nodes' first cost slots). */
function inputMapsOf(network: ReturnType<typeof buildResnet>, layer: string): string[] {
  const { slots, nodes } = buildTopology(network, true);
  const slot = slots.find((s) => s.layer.name === layer)!;
  return slot.inputs.map((node) => slots[nodes[node].costSlots[0]].layer.name);
}

describe('reference topology of ResNets', () => {
  it('after a projection block without bias or BN, the next conv reads the mean of the shortcut and conv2 maps', () => {
    const network = buildResnet([1, 2], [4, 6], [2, 8, 8], 3, { seed: 1 });
    expect(inputMapsOf(network, 'layer2.1.conv1')).to.deep.equal(['layer2.0.shortcut', 'layer2.0.conv2']);
    expect(inputMapsOf(network, 'layer2.0.shortcut')).to.deep.equal(['layer1.0.conv2']);
    expect(inputMapsOf(network, 'fc_out')).to.deep.equal(['layer2.1.conv2']);
  });

  for (const opts of [{ batchNorm: true }, { bias: true }]) {
    const between = opts.batchNorm ? 'batch-norm' : 'bias';
    it(`with a shortcut ${between} in between, the next conv reads the shortcut's map alone`, () => {
      const network = buildResnet([1, 2], [4, 6], [2, 8, 8], 3, { seed: 1, ...opts });
      expect(inputMapsOf(network, 'layer2.1.conv1')).to.deep.equal(['layer2.0.shortcut']);
    });
  }
});
