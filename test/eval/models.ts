/** Test models: the committed tiny MLPs (test/fixtures/eval) with a TS reference forward pass, and a heavy model built in memory. */
import { readFileSync } from 'node:fs';
import { encodeModel, type ModelProto, type ValueInfo } from '../../lib/onnx/proto.js';
import { DataType, floatTensor } from '../../lib/onnx/tensor.js';

const FIXTURES = new URL('../fixtures/eval/', import.meta.url);
export const fixturePath = (name: string): string => new URL(name, FIXTURES).pathname;

interface MlpWeights {
  'fc1.weight': number[];
  'fc1.bias': number[];
  'fc2.weight': number[];
  'fc2.bias': number[];
  hidden: number;
}

const weights = JSON.parse(readFileSync(fixturePath('weights.json'), 'utf8')) as Record<'a' | 'b', MlpWeights>;

/** y = W x + b for each of the n rows of x (float64). */
function affine(x: ArrayLike<number>, n: number, inDim: number, w: number[], b: number[]): Float64Array {
  const outDim = b.length;
  const y = new Float64Array(n * outDim);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < outDim; o++) {
      let acc = b[o]!;
      for (let i = 0; i < inDim; i++) acc += w[o * inDim + i]! * x[r * inDim + i]!;
      y[r * outDim + o] = acc;
    }
  }
  return y;
}

/**
 * The fixture MLP `which` on n inputs of 16 values, in float64: fc1 pre-activations and the final outputs
 * (logits for 'a', log-softmax for 'b').
 */
export function referenceMlp(which: 'a' | 'b', x: ArrayLike<number>, n: number): { pre: Float64Array; out: Float64Array } {
  const w = weights[which];
  const pre = affine(x, n, 16, w['fc1.weight'], w['fc1.bias']);
  const out = affine(pre.map((v) => Math.max(v, 0)), n, w.hidden, w['fc2.weight'], w['fc2.bias']);
  if (which === 'b') {
    for (let r = 0; r < n; r++) {
      const row = out.subarray(r * 3, r * 3 + 3);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      for (let c = 0; c < 3; c++) row[c]! -= lse;
    }
  }
  return { pre, out };
}

function tensorInput(name: string, dims: Array<number | string>): ValueInfo {
  return { name, type: { tensorType: { elemType: DataType.FLOAT, shape: dims.map((d) => (typeof d === 'number' ? { value: d } : { param: d })) } } };
}

/**
 * A model that is slow on purpose (about 2·width²·depth FLOP per sample): input "x" [N, 16] → MatMul 16×width →
 * (Relu → MatMul width×width) × depth → MatMul width×3 → "logits". Weights are small constants.
 */
export function heavyModel(width: number, depth: number, batch: number | string = 'N'): Uint8Array {
  const node = (opType: string, input: string[], output: string): ModelProto['graph']['node'][number] => ({ opType, input, output: [output], name: output, domain: '', attribute: [] });
  const initializer = [floatTensor('w_in', [16, width], new Float32Array(16 * width).fill(0.01))];
  const nodes = [node('MatMul', ['x', 'w_in'], 'h0')];
  for (let d = 1; d <= depth; d++) {
    initializer.push(floatTensor(`w${d}`, [width, width], new Float32Array(width * width).fill(1 / width)));
    nodes.push(node('Relu', [`h${d - 1}`], `r${d}`), node('MatMul', [`r${d}`, `w${d}`], `h${d}`));
  }
  initializer.push(floatTensor('w_out', [width, 3], Float32Array.from({ length: width * 3 }, (_, i) => (i % 3) - 1)));
  nodes.push(node('MatMul', [`h${depth}`, 'w_out'], 'logits'));
  const model: ModelProto = {
    irVersion: 8, opsetImport: [{ domain: '', version: 13 }], producerName: 'clafusion-test', producerVersion: '', domain: '',
    modelVersion: 0, docString: '', metadataProps: [],
    graph: { name: 'heavy', node: nodes, initializer, input: [tensorInput('x', [batch, 16])], output: [tensorInput('logits', [batch, 3])], valueInfo: [] },
  };
  return encodeModel(model);
}
