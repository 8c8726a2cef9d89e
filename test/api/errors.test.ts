import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as api from '../../lib/index.js';
import { ERROR_MEANINGS } from '../../lib/errors.js';

const ROOT = join(import.meta.dirname, '..', '..');
const MODEL = join(ROOT, 'test', 'fixtures', 'eval', 'mlp_a.onnx');
const MISSING = join(ROOT, 'test', 'fixtures', 'no-such-model.onnx');

/** Functions that have no bad argument: they report on the machine or classify any value. */
const TOTAL = new Set(['availableMemoryBytes', 'defaultThreads', 'gpuAvailable', 'gpuInfo', 'isClafusionError']);

/** Classes, checked through their factories and methods elsewhere. */
const CLASSES = new Set(['ClafusionError', 'Dataset', 'ModelRunner', 'SplitMix64']);

type Call = () => unknown;

/**
 * For every public function, calls with a bad argument of the right type (a wrong value, a missing file, a
 * malformed object): each must throw or reject a ClafusionError whose code is documented.
 */
function badCalls(network: api.Network, dataset: api.Dataset, out: string): Record<string, Call[]> {
  const f32 = (n: number) => new Float32Array(n);
  const f64 = (n: number) => new Float64Array(n).fill(1 / n);
  return {
    activationFunction: [() => api.activationFunction('bogus' as never)],
    activationName: [() => api.activationName(null as never), () => api.activationName({ kind: 'leaky_relu' } as never)],
    align: [() => api.align(MODEL, MISSING), () => api.align(MODEL, MODEL, { data: 'idx:/no/such.gz' } as never)],
    allLayers: [() => api.allLayers({} as api.Network)],
    benchmarkSolvers: [() => api.benchmarkSolvers({ sizes: [-1] } as never), () => api.benchmarkSolvers({ repeat: 0 } as never)],
    buildModel: [() => api.buildModel({ ...network, segments: [[{ type: 'bogus' }]] } as never)],
    centeredGram: [() => api.centeredGram(f32(3), 2, 2)],
    centeredGramSync: [() => api.centeredGramSync(f32(4), 2, 2, { threads: 0 })],
    checkAllocation: [() => api.checkAllocation(-1, 'x'), () => api.checkAllocation(2 ** 60, 'x')],
    checkNormalization: [() => api.checkNormalization({ mean: [0], std: [0] }, 1, 'x'), () => api.checkNormalization({ mean: [0, 1], std: [1] }, 3, 'x')],
    ckaCostMatrix: [() => api.ckaCostMatrix([], [f64(4)], 2)],
    ckaCostMatrixSync: [() => api.ckaCostMatrixSync([f64(4)], [f64(3)], 2)],
    claAlign: [() => api.claAlign(f64(6), 2, 3)],
    cloneNetwork: [() => api.cloneNetwork({} as api.Network)],
    collectOutputs: [() => api.collectOutputs(MISSING, dataset, ['x'])],
    compileNetwork: [() => api.compileNetwork({} as api.Network)],
    compress: [() => api.compress(MODEL, MISSING, { data: 'idx:/no/such.gz' } as never), () => api.compress(MODEL, MODEL, {} as never)],
    configureWorkerPool: [() => api.configureWorkerPool({ maxIdle: -1 } as never)],
    costProblem: [() => api.costProblem('bogus' as never, 2, 2, 2, 1), () => api.costProblem('gaussian' as never, -1, 2, 2, 1)],
    dataSpecFiles: [() => api.dataSpecFiles('')],
    datasetForModel: [() => api.datasetForModel({ name: 'm', metadata: { 'clafusion.input_mean': 'x' } } as never, dataset)],
    distill: [() => api.distill(MODEL, [], {} as never), () => api.distill(MISSING, [MODEL], { data: 'idx:/no/such.gz' } as never)],
    emd: [() => api.emd(f64(2), f64(3), f64(5))],
    emd2: [() => api.emd2(f64(2), f64(2), f64(4), { method: 'bogus' as never })],
    emd2Sync: [() => api.emd2Sync(f64(2), f64(2), new Float64Array(4).fill(NaN))],
    emdSync: [() => api.emdSync(f64(2), f64(2), f64(4), { maxIterations: 0 })],
    emitModel: [() => api.emitModel({ ...network, segments: [[{ type: 'bogus' }]] } as never)],
    ensembleAccuracy: [() => api.ensembleAccuracy([], dataset), () => api.ensembleAccuracy([MISSING], dataset)],
    evaluate: [() => api.evaluate(MISSING, dataset), () => api.evaluate(MODEL, dataset, { batchSize: 0 } as never)],
    finetune: [() => api.finetune(MODEL, { data: 'idx:/no/such.gz' } as never), () => api.finetune(MODEL, { epochs: -1 } as never)],
    formatInspect: [() => api.formatInspect({} as never)],
    fuse: [() => api.fuse([MODEL]), () => api.fuse([MODEL, MISSING])],
    fusionReport: [() => api.fusionReport({} as never)],
    gemm: [() => api.gemm(f32(4), f32(4), 2, 2, 3)],
    gemmSync: [() => api.gemmSync(f32(4), f32(4), 2, 2, 2, { beta: 1 })],
    gram: [() => api.gram(f32(4), 0, 2)],
    gramSync: [() => api.gramSync(Float32Array.of(NaN, 1), 1, 2)],
    hiddenUnits: [() => api.hiddenUnits({} as api.Network)],
    inspectModel: [() => api.inspectModel(MISSING), () => api.inspectModel(new Uint8Array([1, 2, 3]))],
    inspectNetwork: [() => api.inspectNetwork({} as api.Network)],
    layerWidth: [() => api.layerWidth({} as never)],
    learningRateAt: [() => api.learningRateAt({ kind: 'bogus' } as never, 0.1, 0), () => api.learningRateAt({ kind: 'constant' } as never, -1, 0)],
    linearCka: [() => api.linearCka(f32(3), f32(3), 3, 1, 1, { debiased: true })],
    linearCkaSync: [() => api.linearCkaSync(f32(2), f32(2), 1, 2, 2)],
    modelCost: [() => api.modelCost({} as api.Network)],
    networkShapes: [() => api.networkShapes({} as api.Network)],
    networkWithParameters: [() => api.networkWithParameters(network, f32(1), f32(0))],
    normalizationFromFlags: [() => api.normalizationFromFlags({ mean: [0] }), () => api.normalizationFromFlags({ normalize: 'bogus' })],
    normalizationMetadata: [() => api.normalizationMetadata({} as never)],
    normalizationWarning: [() => api.normalizationWarning({ name: 'm', metadata: { 'clafusion.input_mean': 'x' } }, dataset)],
    resolveNormalization: [() => api.resolveNormalization('bogus' as never)],
    sharedNormalization: [() => api.sharedNormalization([{ name: 'm', metadata: { 'clafusion.input_mean': 'x' } }], dataset)],
    normalizationFromMetadata: [() => api.normalizationFromMetadata({ 'clafusion.input_std': 'x' }, 'm')],
    openCifar: [() => api.openCifar([MISSING], 'cifar10'), () => api.openCifar([MODEL], 'cifar10')],
    openDataset: [() => api.openDataset('idx:'), () => api.openDataset(`npy:${MODEL}`)],
    openIdx: [() => api.openIdx(MODEL)],
    openIdxDirectory: [() => api.openIdxDirectory(join(ROOT, 'test'), 'test')],
    openNpy: [() => api.openNpy(MODEL)],
    pairwiseDistances: [() => api.pairwiseDistances(f32(4), 2, f32(4), 2, 2, { metric: 'bogus' as never })],
    pairwiseDistancesSync: [() => api.pairwiseDistancesSync(f32(4), 2, f32(4), 2, 2, { device: 'tpu' as never })],
    parameterCount: [() => api.parameterCount({} as api.Network)],
    patchRowsSync: [() => api.patchRowsSync(f32(4), 1, { input: [1, 2, 2], kernel: [1, 1], stride: [1, 1], pads: [0, 0], dilations: [1, 1], outputWidth: 2 }, new Int32Array(3), 2, false)],
    parseDataSpec: [() => api.parseDataSpec(''), () => api.parseDataSpec('idx:a,b,c')],
    parseSchedule: [() => api.parseSchedule('bogus:1'), () => api.parseSchedule('')],
    planInput: [() => api.planInput({ inputs: [], name: 'm', metadata: {} } as never, 'd', [1, 28, 28])],
    predictLogits: [() => api.predictLogits(MISSING, dataset)],
    readCifar: [() => api.readCifar([MODEL], 'cifar10'), () => api.readCifar([MODEL], 'bogus' as never)],
    readIdx: [() => api.readIdx(MODEL), () => api.readIdx(MISSING)],
    readModel: [() => api.readModel(MISSING), () => api.readModel(new Uint8Array([0x0a, 0xff]))],
    readNetwork: [() => api.readNetwork(MISSING), () => api.readNetwork(new Uint8Array(0))],
    readNpyHeader: [() => api.readNpyHeader(MODEL)],
    readNpyLabels: [() => api.readNpyLabels(MISSING)],
    recogniseModel: [() => api.recogniseModel({ ...api.readModel(MODEL), graph: { ...api.readModel(MODEL).graph, node: [] } })],
    sampleIndices: [() => api.sampleIndices(3, 5, 1), () => api.sampleIndices(-1, 1, 1)],
    sharedThreads: [() => api.sharedThreads(-1), () => api.sharedThreads(1.5)],
    sinkhorn: [() => api.sinkhorn(f64(2), f64(2), f64(4), 0)],
    sinkhorn2: [() => api.sinkhorn2(f64(2), f64(2), f64(4), 1, { device: 'tpu' as never })],
    sinkhorn2Sync: [() => api.sinkhorn2Sync(f64(2), f64(3), f64(6), 1, { bogus: 1 } as never)],
    sinkhornSync: [() => api.sinkhornSync(f64(2), f64(2), f64(3), 1)],
    uniform: [() => api.uniform(0), () => api.uniform(2 ** 40)],
    unitOutputShapes: [() => api.unitOutputShapes({} as api.Network)],
    unitWidth: [() => api.unitWidth({} as never)],
    useGpu: [() => api.useGpu('tpu' as never, 4), () => api.useGpu('cpu', -1)],
    validateFusion: [() => api.validateFusion([MODEL], {} as never, dataset)],
    vanillaAverage: [() => api.vanillaAverage([]), () => api.vanillaAverage([network], [1, 2])],
    writeModel: [() => api.writeModel('', api.readModel(MODEL)), () => api.writeModel(out, {} as never)],
    writeNetwork: [() => api.writeNetwork(join(out, 'no-such-folder', 'x.onnx'), network), () => api.writeNetwork(out, {} as api.Network)],
  };
}

async function outcomeOf(call: Call): Promise<unknown> {
  try {
    await call();
    return 'no error';
  } catch (err) {
    return err;
  }
}

describe('every public function fails with a documented ClafusionError code on bad arguments', function () {
  this.timeout(120_000);
  let out: string;
  let network: api.Network;
  let dataset: api.Dataset;
  before(async () => {
    out = mkdtempSync(join(tmpdir(), 'clafusion-api-'));
    network = api.readNetwork(MODEL);
    dataset = await api.openDataset(`idx:${join(ROOT, 'examples', 'data', 'fashion-mnist-test-2k-images-idx3-ubyte.gz')}`, { limit: 8 });
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  it('has a bad call for every exported function (a new export needs one here)', () => {
    const exported = Object.entries(api).filter(([name, value]) => typeof value === 'function' && !CLASSES.has(name)).map(([name]) => name);
    const covered = new Set([...Object.keys(badCalls(network, dataset, out)), ...TOTAL]);
    expect(exported.filter((name) => !covered.has(name))).to.deep.equal([]);
  });

  it('each bad call throws or rejects a ClafusionError with a documented code', async () => {
    const wrong: string[] = [];
    for (const [name, calls] of Object.entries(badCalls(network, dataset, out))) {
      for (const [i, call] of calls.entries()) {
        const err = await outcomeOf(call);
        const code = (err as { code?: unknown })?.code;
        if (!(api.isClafusionError(err) && typeof code === 'string' && Object.hasOwn(ERROR_MEANINGS, code))) {
          wrong.push(`${name} #${i}: ${err === 'no error' ? 'no error' : `${(err as Error)?.constructor?.name} ${String(code)} ${(err as Error)?.message?.slice(0, 120)}`}`);
        }
      }
    }
    expect(wrong).to.deep.equal([]);
  });

  it('a diverging finetune rejects with a ClafusionError E_SOLVER (it was a plain Error)', async () => {
    const data = join(ROOT, 'examples', 'data');
    const train = `idx:${data}/fashion-mnist-train-1k-images-idx3-ubyte.gz,${data}/fashion-mnist-train-1k-labels-idx1-ubyte.gz`;
    const err = await outcomeOf(() => api.finetune(join(ROOT, 'examples', 'models', 'mlp_shallow.onnx'), { data: train, epochs: 1, lr: 1e30, batchSize: 256 }));
    expect(api.isClafusionError(err, 'E_SOLVER'), String(err)).to.equal(true);
    expect((err as Error).message).to.match(/diverged/);
  });

  it('the functions without bad arguments do not throw', () => {
    expect(api.availableMemoryBytes()).to.be.above(0);
    expect(api.defaultThreads()).to.be.at.least(1);
    expect(api.gpuAvailable()).to.be.a('boolean');
    expect(api.gpuInfo().backend).to.be.oneOf(['cpu', 'cuda']);
    expect(api.isClafusionError(undefined)).to.equal(false);
  });
});
