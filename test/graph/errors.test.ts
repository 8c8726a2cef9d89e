import { expect } from 'chai';
import { readNetwork } from '../../lib/graph/recognise.js';
import { intAttr, intsAttr, Sketch } from './support.js';

function failure(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected an error');
}

describe('recognise: unsupported graphs and mismatched shapes', () => {
  it('an unsupported op names the node and the op', () => {
    const s = new Sketch('x', ['N', 8]);
    s.gemm(s.node('Softplus', [s.gemm('x', 'fc1', 8, 6)]), 'fc2', 6, 10);
    const err = failure(() => readNetwork(s.finish()));
    expect(err.code).to.equal('E_UNSUPPORTED_GRAPH');
    expect(err.message).to.match(/\/Softplus_\d+.*\(Softplus\).*not a supported activation/);
  });

  it('a grouped convolution is unsupported', () => {
    const s = new Sketch('x', ['N', 4, 6, 6]);
    const w = s.weight('conv.weight', [4, 2, 3, 3]);
    const h = s.node('Conv', ['x', w], [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [1, 1, 1, 1]), intAttr('group', 2)]);
    s.gemm(s.flatten(s.relu(h)), 'fc', 4 * 36, 10);
    const err = failure(() => readNetwork(s.finish()));
    expect(err.code).to.equal('E_UNSUPPORTED_GRAPH');
    expect(err.message).to.contain('group=2');
  });

  it('a weight that does not fit the incoming features is E_SHAPE', () => {
    const s = new Sketch('x', ['N', 8]);
    s.gemm(s.relu(s.gemm('x', 'fc1', 8, 6)), 'fc2', 7, 10);
    const err = failure(() => readNetwork(s.finish()));
    expect(err.code).to.equal('E_SHAPE');
    expect(err.message).to.contain("layer 'fc2'");
  });

  it('conv channels that do not match are E_SHAPE', () => {
    const s = new Sketch('x', ['N', 3, 4, 4]);
    s.gemm(s.flatten(s.relu(s.conv(s.relu(s.conv('x', 'c1', 3, 5)), 'c2', 4, 2))), 'fc', 32, 10);
    expect(failure(() => readNetwork(s.finish())).code).to.equal('E_SHAPE');
  });

  it('a Reshape that is not a flatten is unsupported', () => {
    const s = new Sketch('x', ['N', 2, 4, 4]);
    s.gemm(s.node('Reshape', [s.relu(s.conv('x', 'c', 2, 2)), s.ints('shape', [-1, 16])]), 'fc', 16, 10);
    const err = failure(() => readNetwork(s.finish()));
    expect(err.code).to.equal('E_UNSUPPORTED_GRAPH');
    expect(err.message).to.contain('Reshape');
  });

  it('a pre-activation block (BN before the conv) is unsupported', () => {
    const s = new Sketch('x', ['N', 2, 4, 4]);
    s.gemm(s.flatten(s.conv(s.relu(s.bn('x', 'bn0', 2)), 'c', 2, 2)), 'fc', 32, 10);
    expect(failure(() => readNetwork(s.finish())).message).to.contain('BatchNormalization');
  });

  it('a network that ends in a Relu has no classifier', () => {
    const s = new Sketch('x', ['N', 8]);
    s.relu(s.gemm('x', 'fc1', 8, 10));
    expect(failure(() => readNetwork(s.finish())).code).to.equal('E_UNSUPPORTED_GRAPH');
  });

  it('a fork into three consumers is unsupported', () => {
    const s = new Sketch('x', ['N', 8]);
    const h = s.relu(s.gemm('x', 'fc1', 8, 8));
    const a = s.gemm(h, 'a', 8, 8);
    const b = s.gemm(h, 'b', 8, 8);
    s.gemm(s.node('Add', [s.node('Add', [a, b]), h]), 'fc', 8, 10);
    expect(failure(() => readNetwork(s.finish())).message).to.contain('feeds 3 nodes');
  });

  it('an output declared with the wrong class count is E_SHAPE', () => {
    const s = new Sketch('x', ['N', 8]);
    s.gemm('x', 'fc', 8, 10);
    expect(failure(() => readNetwork(s.finish('y', ['N', 12]))).code).to.equal('E_SHAPE');
  });
});

describe('recognise: malformed graphs end with an error, never a hang', () => {
  it('a node whose output feeds its own input', () => {
    const s = new Sketch('x', ['N', 8]);
    const h = s.gemm('x', 'fc1', 8, 8);
    s.nodes.push({ opType: 'Relu', name: 'loop', input: ['loop_out'], output: ['loop_out'], domain: '', attribute: [] });
    s.nodes.push({ opType: 'Add', name: 'feed', input: [h, 'loop_out'], output: ['sum'], domain: '', attribute: [] });
    s.gemm('sum', 'fc2', 8, 10);
    expect(failure(() => readNetwork(s.finish())).code).to.equal('E_UNSUPPORTED_GRAPH');
  });

  it('an Identity that is its own input', () => {
    const s = new Sketch('x', ['N', 8]);
    s.nodes.push({ opType: 'Identity', name: 'self', input: ['i'], output: ['i'], domain: '', attribute: [] });
    s.gemm('x', 'fc', 8, 10);
    expect(failure(() => readNetwork(s.finish())).message).to.contain('cycle');
  });
});
