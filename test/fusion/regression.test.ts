/**
 * Regression maps (lib/fusion/otfuse/regression.ts): known answers of the ridge fits, exactness on the invariants,
 * the default (regression for models with batch-norm under the repair, plans otherwise), and the one-shot gain on the
 * committed BN ResNet pair.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { fuse } from '../../lib/fusion/index.js';
import { regressionMaps } from '../../lib/fusion/otfuse/regression.js';
import { validateFusion } from '../../lib/fusion/validate.js';
import { allLayers } from '../../lib/ir/network.js';
import { type UnitMap, identityMap, unitMap } from '../../lib/fusion/transport.js';
import { balanceByAdding } from '../../lib/fusion/balance/add.js';
import { crossLayerAlignment } from '../../lib/fusion/cla/index.js';
import { tapKey } from '../../lib/fusion/activations.js';
import { fusionRequest } from '../../lib/fusion/otfuse/index.js';
import { atInsertedUnit, buildTopology, takesFixedMap } from '../../lib/fusion/otfuse/topology.js';
import { buildBottleneckResnet, buildMlp, buildResnet, bytesOf, maxAbsDiff, permuteNetwork, randomDataset, rng } from './helpers.js';

/** Σ aᵢ bⱼ over the rows of two N x n matrices (row-major), as the streamed cross moments hold them. */
function crossOf(a: number[][], b: number[][]): Float64Array {
  const [n, m] = [a[0].length, b[0].length];
  const out = new Float64Array(n * m);
  a.forEach((row, k) => {
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[i * m + j] += row[i] * b[k][j];
  });
  return out;
}

function momentsOf(source: number[][], target: number[][]) {
  const count = source.length;
  return { count, source: crossOf(source, source), target: crossOf(target, target), cross: crossOf(source, target) };
}

function permutation(order: number[]): UnitMap {
  const n = order.length;
  const data = new Float64Array(n * n);
  order.forEach((j, i) => { data[i * n + j] = 1; });
  return unitMap(data, n, n);
}


describe('regression maps', () => {
  it('give the plan itself for a permuted copy (so fuse(A, P(A)) stays exact)', () => {
    const random = rng(11);
    const order = [2, 0, 3, 1];
    const source = Array.from({ length: 50 }, () => Array.from({ length: 4 }, () => random() - 0.3));
    const target = source.map((row) => {
      const moved = new Array<number>(4);
      order.forEach((j, i) => { moved[j] = row[i]; });
      return moved;
    });
    const plan = permutation(order);
    const maps = regressionMaps(plan, momentsOf(source, target), 0.1);
    expect(maps.outputs).to.equal(plan);
    expect(maps.inputs).to.equal(plan);
  });

  it('recover a linear relation beyond one permutation with a small ridge, and the plan with a large one', () => {
    const random = rng(12);
    const source = Array.from({ length: 400 }, () => [random() - 0.5, random() - 0.5]);
    // t0 = s0 + 0.5 s1, t1 = s1: not a permutation.
    const target = source.map(([a, b]) => [a + 0.5 * b, b]);
    const maps = regressionMaps(identityMap(2), momentsOf(source, target), 1e-9);
    expect(maxAbsDiff(maps.outputs.data, [1, 0, 0.5, 1])).to.be.below(1e-6);
    // The input side predicts the source from the target: s0 = t0 − 0.5 t1, read by the next layer as W·Rᵀ.
    expect(maxAbsDiff(maps.inputs.data, [1, -0.5, 0, 1])).to.be.below(1e-6);
    const stiff = regressionMaps(identityMap(2), momentsOf(source, target), 1e9);
    expect(maxAbsDiff(stiff.outputs.data, [1, 0, 0, 1])).to.be.below(1e-6);
  });

  it('are the default with BN under the repair; plans without BN, in weight mode, with --reference', async () => {
    const withBn = buildResnet([2, 1], [4, 6], [2, 8, 8], 4, { seed: 8, batchNorm: true });
    const withoutBn = buildResnet([2, 1], [4, 6], [2, 8, 8], 4, { seed: 9 });
    const data = randomDataset(withBn, 16);
    const mapsOf = async (network: typeof withBn, options: Parameters<typeof fuse>[1]) => {
      const models = [bytesOf(permuteNetwork(network, 3)), bytesOf(network)];
      return (await fuse(models, { data, samples: 16, ...options })).options.maps;
    };
    expect(await mapsOf(withBn, {})).to.equal('regression');
    expect(await mapsOf(withoutBn, {})).to.equal('plans');
    expect(await mapsOf(withBn, { repair: false })).to.equal('plans');
    expect(await mapsOf(withBn, { reference: true })).to.equal('plans');
    expect(await mapsOf(withBn, { mode: 'weights' })).to.equal('plans');
  });

  it('refuse weight mode and --reference (E_ARG) and a ridge that is not positive (E_ARG)', async () => {
    const mlp = buildMlp([12, 10, 8], 4, { seed: 2 });
    const data = randomDataset(mlp, 8);
    const failure = (options: Parameters<typeof fuse>[1]) => fuse([bytesOf(mlp), bytesOf(mlp)], { data, ...options })
      .then(() => ({ code: 'none' }), (e: unknown) => e as { code?: string });
    expect((await failure({ maps: 'regression', reference: true })).code).to.equal('E_ARG');
    expect((await failure({ maps: 'regression', mode: 'weights' })).code).to.equal('E_ARG');
    expect((await failure({ maps: 'regression', ridge: 0 })).code).to.equal('E_ARG');
  });

  it('fuse(P(A), A) = A, and fuse(A, A) = A bit for bit without the repair, with regression maps (MLP)', async () => {
    const a = buildMlp([20, 16, 12, 10], 5, { bias: true, seed: 3 });
    const data = randomDataset(a, 24);
    const options = { data, samples: 24, maps: 'regression' } as const;
    const permuted = await fuse([bytesOf(permuteNetwork(a, 13)), bytesOf(a)], options);
    allLayers(permuted.network).forEach((layer, k) => {
      expect(maxAbsDiff(layer.op.weight.data, allLayers(a)[k].op.weight.data), layer.name).to.be.at.most(1e-5);
    });
    // The repair folds its normalisation into a layer without BN, which rounds; the maps alone are exact.
    const same = await fuse([bytesOf(a), bytesOf(a)], { ...options, repair: false });
    allLayers(same.network).forEach((layer, k) => {
      expect(maxAbsDiff(layer.op.weight.data, allLayers(a)[k].op.weight.data)).to.equal(0);
    });
  });

  it('are read from one sum per node, none at fixed maps, and no second moments at inserted units', async () => {
    const deep = buildBottleneckResnet([3, 3], [2, 3], [2, 8, 8], 4, { seed: 9, batchNorm: true });
    const shallow = buildBottleneckResnet([2, 1], [2, 3], [2, 8, 8], 4, { seed: 10, batchNorm: true });
    const balanced = balanceByAdding(deep, shallow, (await crossLayerAlignment(deep, shallow, { startLayer: 2, pinnedEnd: 1 })).groups);
    const options = { mode: 'activations' as const, reference: false, alignClassifier: false, repair: false };
    const [source, target] = [buildTopology(balanced, false), buildTopology(deep, false)];
    const nodesOf = (topology: typeof source, model: number) => new Map(topology.nodes.flatMap((node, index) => node.taps.map((tap) => [`${model}|${tapKey(tap)}`, index])));
    const node = new Map([...nodesOf(source, 0), ...nodesOf(target, 1)]);
    const fixed = target.nodes.map((_, index) => takesFixedMap(source, target, index, false));
    const inserted = target.nodes.map((_, index) => atInsertedUnit(source, target, index));
    expect(source.nodes.some((n) => n.degenerate) && fixed.some((f, index) => f && target.nodes[index].kind === 'layer')).to.equal(true);
    const plain = fusionRequest([balanced], deep, { sources: [0], target: 1 }, options).cross;
    const fitted = fusionRequest([balanced], deep, { sources: [0], target: 1 }, { ...options, regression: true }).cross;
    const at = (model: number, tap: Parameters<typeof tapKey>[0]) => node.get(`${model}|${tapKey(tap)}`)!;
    for (const r of fitted) {
      const index = at(r.a, r.tapsA[0]);
      expect(fixed[index], tapKey(r.tapsA[0])).to.equal(false);
      // A sum reads all of its node's taps, on both sides.
      expect(r.tapsA.map(tapKey)).to.deep.equal((r.a === 0 ? source : target).nodes[index].taps.map(tapKey));
      expect(r.tapsB.map(tapKey)).to.deep.equal((r.b === 0 ? source : target).nodes[index].taps.map(tapKey));
    }
    const seconds = fitted.filter((r) => r.a === r.b);
    expect(seconds.every((r) => !inserted[at(r.a, r.tapsA[0])])).to.equal(true);
    // Every other node: its cross moments, and both sides' second moments when fitted.
    const unfixed = fixed.filter((f) => !f).length;
    expect(plain.length).to.equal(unfixed);
    expect(seconds.length).to.equal(2 * fixed.filter((f, index) => !f && !inserted[index]).length);
    expect(fitted.length).to.equal(plain.length + seconds.length);
  });

  it('keep every batch-norm of a BN ResNet pair of different depth', async () => {
    const deep = buildResnet([3, 2], [4, 6], [2, 8, 8], 4, { seed: 21, batchNorm: true });
    const shallow = buildResnet([2, 1], [4, 6], [2, 8, 8], 4, { seed: 22, batchNorm: true });
    const result = await fuse([bytesOf(deep), bytesOf(shallow)], { data: randomDataset(deep, 32), samples: 32 });
    expect(result.options.maps).to.equal('regression');
    const hidden = allLayers(result.network).slice(0, -1);
    expect(hidden.every((layer) => layer.batchNorm !== undefined)).to.equal(true);
    expect(hidden.every((layer) => layer.op.weight.data.every(Number.isFinite))).to.equal(true);
  });

  const MODELS = 'examples/models';
  const models = [`${MODELS}/resnet_deep.onnx`, `${MODELS}/resnet_shallow.onnx`];
  (models.every((m) => existsSync(m)) ? it : it.skip)('lift the committed BN ResNet pair above the plans (under the repair, without the refit)', async () => {
    const data = 'idx:examples/data/fashion-mnist';
    const train = `${data}-train-1k-images-idx3-ubyte.gz`;
    const test = `${data}-test-2k-images-idx3-ubyte.gz,${data.slice(4)}-test-2k-labels-idx1-ubyte.gz`;
    const accuracy = async (maps: 'plans' | 'regression') =>
      (await validateFusion(models, await fuse(models, { data: train, samples: 200, maps, refit: false }), test)).fused!;
    const [plans, regression] = [await accuracy('plans'), await accuracy('regression')];
    const percent = (x: number) => `${(100 * x).toFixed(2)}%`;
    console.log(`      resnet pair one-shot (test-2k): plans ${percent(plans)}, regression ${percent(regression)}`);
    // Measured: 70.10 % and 83.05 % (81.20 % with the models' weights at the unmatched blocks).
    expect(regression).to.be.above(plans + 0.05);
    expect(regression).to.be.above(0.78);
  });
});
