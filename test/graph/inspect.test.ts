import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatInspect, inspectModel } from '../../lib/inspect/index.js';
import { inspectCommand } from '../../lib/cli/inspect.js';
import { Sketch } from './support.js';

/** A BasicBlock ResNet: stem conv, identity block, projection block (stride 2), global pool, linear. */
function smallResNet(): Uint8Array {
  const s = new Sketch('input', ['N', 3, 8, 8]);
  const h = s.relu(s.bn(s.conv('input', 'conv1', 3, 4, { bias: false }), 'bn1', 4));
  let b = s.relu(s.conv(h, 'layer1.0.conv1', 4, 4));
  b = s.conv(b, 'layer1.0.conv2', 4, 4);
  const h1 = s.relu(s.node('Add', [b, h]));
  b = s.conv(s.relu(s.conv(h1, 'layer2.0.conv1', 4, 8, { stride: 2 })), 'layer2.0.conv2', 8, 8);
  const sc = s.conv(h1, 'layer2.0.shortcut', 4, 8, { kernel: 1, stride: 2, pad: 0 });
  const h2 = s.relu(s.node('Add', [b, sc]));
  s.gemm(s.flatten(s.node('GlobalAveragePool', [h2])), 'fc', 8, 10);
  return s.finish();
}

describe('inspect', () => {
  it('reports units, residual structure and the CLAFusion depth (shortcut convs counted)', () => {
    const report = inspectModel(smallResNet());
    expect(report.units.map((u) => [u.index, u.name, u.type, u.segment ?? null])).to.deep.equal([
      [1, 'conv1', 'layer', 0], [2, 'layer1.0', 'residual', 0], [3, 'layer2.0', 'residual', 1], [4, 'fc', 'classifier', null],
    ]);
    const block = report.units[2];
    expect(block.inputShape).to.deep.equal([4, 8, 8]);
    expect(block.outputShape).to.deep.equal([8, 4, 4]);
    expect(block.residual?.shortcut !== 'identity' && block.residual?.shortcut.kind).to.equal('conv 1x1 s2');
    expect(report.units[1].residual?.shortcut).to.equal('identity');
    expect(report.units[3].flattenBefore).to.equal('avg');
    const conv = (cin: number, cout: number, k: number): number => cout * cin * k * k + cout;
    expect(report.summary).to.deep.equal({
      depth: 6, // conv1, 2 + 2 branch convs, 1 shortcut conv
      hiddenUnits: 3,
      hiddenNeurons: 4 + 4 + 4 + 8 + 8 + 8,
      segments: 2,
      parameters: (4 * 3 * 9 + 2 * 4) + 2 * conv(4, 4, 3) + conv(4, 8, 3) + conv(8, 8, 3) + conv(4, 8, 1) + (8 * 10 + 10),
    });
    const text = formatInspect(report);
    expect(text).to.match(/^depth 6 \(hidden weight layers\), 3 hidden units/m);
    expect(text).to.contain('↳layer2.0.shortcut');
    expect(text).to.contain('global avg pool + flatten');
  });

  it('matches the parameter counts torch reports for the example models', () => {
    const catalogue = JSON.parse(readFileSync('examples/models/models.json', 'utf8')) as Record<string, { file: string; params: number }>;
    const entries = Object.values(catalogue).filter((m) => existsSync(join('examples/models', m.file)));
    expect(entries.length).to.be.greaterThan(0);
    for (const entry of entries) expect(inspectModel(join('examples/models', entry.file)).summary.parameters, entry.file).to.equal(entry.params);
  });

  it('the command prints JSON with --json and a table without; errors propagate with their code', async () => {
    let out = '';
    const io = { stdout: { write: (t: string) => { out += t; return true; } }, stderr: { write: () => true } };
    await inspectCommand(io).parseAsync(['examples/models/mlp_shallow.onnx', '--json'], { from: 'user' });
    const report = JSON.parse(out) as { summary: { depth: number } };
    expect(report.summary.depth).to.equal(3);
    out = '';
    await inspectCommand(io).parseAsync(['examples/models/mlp_shallow.onnx'], { from: 'user' });
    expect(out).to.match(/fc4 \(classifier\)/);
    let code = '';
    await inspectCommand(io).parseAsync(['examples/models/missing.onnx'], { from: 'user' }).catch((err: { code: string }) => { code = err.code; });
    expect(code).to.equal('E_IO');
  });
});
