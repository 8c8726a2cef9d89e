/** The fusion report: a self-contained XHTML page whose SVG pictures match the FuseResult they draw. */
import { expect } from 'chai';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fuse, type FuseResult } from '../../lib/fusion/index.js';
import { planPreview } from '../../lib/fusion/otfuse/preview.js';
import { unitMap } from '../../lib/fusion/transport.js';
import type { Validation } from '../../lib/fusion/validate.js';
import { alignmentPath, fusionReport } from '../../lib/report/index.js';
import { fuseCommand } from '../../lib/cli/fuse.js';
import { runCommand } from '../support/cli.js';
import { type XmlElement, findAll, parseXml } from '../support/xml.js';

const TRAIN = 'idx:examples/data/fashion-mnist-train-1k-images-idx3-ubyte.gz';
const TEST = 'idx:examples/data/fashion-mnist-test-2k-images-idx3-ubyte.gz,' +
  'examples/data/fashion-mnist-test-2k-labels-idx1-ubyte.gz';

const byClass = (name: string) => (e: XmlElement) => (e.attributes.class ?? '').split(' ').includes(name);
const cellsOf = (svg: XmlElement, kind: string) =>
  findAll(svg, byClass(kind)).map((c) => [Number(c.attributes['data-i']), Number(c.attributes['data-j'])]);

describe('fusion report', () => {
  let dir: string;
  let result: FuseResult;
  const validation: Validation = {
    samples: 2000, models: [0.882, 0.8885], fused: 0.8665, ensemble: 0.8855,
    vanilla: null, vanillaNote: 'not applicable: shapes differ',
  };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'clafusion-report-'));
    // A name that needs escaping in HTML.
    copyFileSync('examples/models/mlp_deep.onnx', join(dir, 'deep & <wide>.onnx'));
    const models = [join(dir, 'deep & <wide>.onnx'), 'examples/models/mlp_shallow.onnx'];
    result = await fuse(models, { data: TRAIN, samples: 64 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is well-formed XHTML with no script, no stylesheet link and no external reference', () => {
    const html = fusionReport(result, { validation, totalMs: 1234 });
    const page = parseXml(html);
    expect(page.name).to.equal('html');
    expect(findAll(page, (e) => ['script', 'link', 'img', 'iframe', 'object'].includes(e.name))).to.deep.equal([]);
    const fetching = (a: string) => ['src', 'href', 'xlink:href'].includes(a) || a.startsWith('on');
    expect(findAll(page, (e) => Object.keys(e.attributes).some(fetching))).to.deep.equal([]);
    const namespaces = new Set(['http://www.w3.org/2000/svg', 'http://www.w3.org/1999/xhtml']);
    const urls = (html.match(/[a-z]+:\/\/[^\s"'<>)]*/gi) ?? []).filter((u) => !namespaces.has(u));
    expect(urls).to.deep.equal([]);
    expect(html).not.to.match(/url\(|@import/);
    expect(html).to.include('deep &amp; &lt;wide&gt;.onnx');
  });

  it('draws the layer-cost matrix of every segment, cell for cell, with the DP path on the mapping', () => {
    const page = parseXml(fusionReport(result));
    const segments = findAll(page, (e) => e.name === 'figure' && byClass('segment')(e));
    const groups = result.alignments.flatMap((a) => a.alignment.groups);
    expect(groups.length).to.be.greaterThan(0);
    expect(segments).to.have.length(groups.length);
    segments.forEach((figure, s) => {
      const group = groups[s];
      const svg = findAll(figure, (e) => e.name === 'svg')[0];
      const m = group.deepUnits.length;
      const n = group.shallowUnits.length;
      expect([svg.attributes['data-rows'], svg.attributes['data-cols']]).to.deep.equal([String(m), String(n)]);
      const cells = cellsOf(svg, 'cell');
      expect(cells).to.have.length(m * n);
      expect(new Set(cells.map(String)).size).to.equal(m * n);
      // Each cell's tooltip holds its cost.
      const titles = findAll(svg, byClass('cell')).map((c) => c.children[0].text);
      expect(titles[n + 1]).to.equal(`[1, 1] ${Number(group.cost[1][1].toPrecision(4))}`);
      const path = cellsOf(svg, 'step');
      expect(path).to.deep.equal(group.mapping.map((deep, k) => [deep - 1, k]));
      expect(alignmentPath(group)).to.deep.equal(path);
      const line = findAll(svg, byClass('path'))[0];
      expect(line.attributes.points.split(' ')).to.have.length(n);
    });
  });

  it('draws the first transport plans (bounded size), lists every map, the accuracy table and the timings', () => {
    const html = fusionReport(result, { validation, totalMs: 1234 });
    const page = parseXml(html);
    const plans = findAll(page, (e) => e.name === 'figure' && byClass('plan')(e));
    const previewed = result.layers.filter((l) => l.plan);
    expect(previewed.length).to.be.within(1, 4);
    expect(plans).to.have.length(previewed.length);
    plans.forEach((figure, k) => {
      const { rows, cols } = previewed[k].plan!;
      expect(rows).to.be.at.most(32);
      expect(cols).to.be.at.most(32);
      expect(cellsOf(findAll(figure, (e) => e.name === 'svg')[0], 'cell')).to.have.length(rows * cols);
    });
    for (const layer of result.layers) expect(html).to.include(`<td>${layer.layer}</td>`);
    for (const accuracy of ['88.20%', '88.85%', '86.65%', '88.55%']) expect(html).to.include(accuracy);
    expect(html).to.include('not applicable: shapes differ');
    for (const stage of Object.keys(result.timings)) expect(html).to.include(`>${stage}</text>`);
    expect(html).to.include('Total: 1234 ms');
    for (const input of result.provenance.inputs) expect(html).to.include(input.sha256);
  });

  it('says so when the models have the same depth (no alignment)', async () => {
    const same = await fuse(['examples/models/vgg_shallow.onnx', 'examples/models/vgg_shallow.onnx'], {});
    const page = parseXml(fusionReport(same));
    expect(findAll(page, (e) => e.name === 'figure' && byClass('segment')(e))).to.deep.equal([]);
    expect(fusionReport(same)).to.include('no cross-layer alignment was needed');
    expect(fusionReport(same)).to.include('Not validated');
  });

  it('draws every pair of a fusion of three models, and names the source of each map', async () => {
    const models = ['vgg_deep', 'vgg_shallow', 'vgg_shallow'].map((name) => `examples/models/${name}.onnx`);
    const three = await fuse(models, {});
    const page = parseXml(fusionReport(three));
    const groups = three.alignments.flatMap((a) => a.alignment.groups);
    expect(three.alignments).to.have.length(2);
    expect(findAll(page, (e) => e.name === 'figure' && byClass('segment')(e))).to.have.length(groups.length);
    expect(fusionReport(three)).to.include('(source 1)');
  });

  it('fuse --report writes the page beside the fused model', async () => {
    const out = join(dir, 'fused.onnx');
    const models = ['examples/models/vgg_deep.onnx', 'examples/models/vgg_shallow.onnx'];
    const { error, stdout } = await runCommand(fuseCommand, [...models,
      '-o', out, '--data', TRAIN, '--samples', '32', '--eval-data', TEST, '--report', join(dir, 'fused.html')]);
    expect(error, String(error)).to.equal(null);
    expect(stdout).to.include(`report: ${join(dir, 'fused.html')}`);
    const page = parseXml(readFileSync(join(dir, 'fused.html'), 'utf8'));
    expect(findAll(page, (e) => e.name === 'svg').length).to.be.greaterThan(3);
    expect(readFileSync(join(dir, 'fused.html'), 'utf8')).to.include('Top-1 accuracy on 2000 samples');
  });
});

describe('the test XML reader', () => {
  it('refuses what is not well-formed', () => {
    for (const bad of ['<a><b></a>', '<a x=1/>', '<a>1 & 2</a>', '<a/><b/>', '<a>', '<a x="1" x="2"/>']) {
      expect(() => parseXml(bad), bad).to.throw();
    }
    const parsed = parseXml('<a x="&lt;1&gt;"><b/>t &amp; u</a>');
    expect(parsed).to.deep.include({ name: 'a', attributes: { x: '<1>' }, text: 't & u' });
  });
});

describe('plan previews', () => {
  it('keep a small plan as it is', () => {
    const map = unitMap(Float64Array.from([0, 1, 0, 1, 0, 0, 0, 0, 1]), 3, 3);
    const data = [0, 1, 0, 1, 0, 0, 0, 0, 1];
    expect(planPreview(map)).to.deep.equal({ rows: 3, cols: 3, sourceUnits: 3, targetUnits: 3, data });
  });

  it('sum a big plan over blocks: the identity on 64 units becomes 2 on the diagonal of 32 x 32', () => {
    const data = new Float64Array(64 * 64);
    for (let i = 0; i < 64; i++) data[i * 64 + i] = 1;
    const preview = planPreview(unitMap(data, 64, 64));
    expect([preview.rows, preview.cols, preview.sourceUnits]).to.deep.equal([32, 32, 64]);
    preview.data.forEach((v, k) => expect(v).to.equal(Math.floor(k / 32) === k % 32 ? 2 : 0));
  });

  it('keep the mass of uneven blocks (100 x 7 into 32 x 7)', () => {
    const data = new Float64Array(100 * 7);
    for (let i = 0; i < 100; i++) data[i * 7 + (i % 7)] = 1 / 15;
    const preview = planPreview(unitMap(data, 100, 7));
    expect([preview.rows, preview.cols]).to.deep.equal([32, 7]);
    expect(preview.data.reduce((a, b) => a + b, 0)).to.be.closeTo(100 / 15, 1e-12);
    // Block 0 holds units 0..2 (floor(100/32) = 3): columns 0, 1, 2.
    expect(preview.data.slice(0, 7)).to.deep.equal([1, 1, 1, 0, 0, 0, 0].map((v) => v / 15));
  });
});
