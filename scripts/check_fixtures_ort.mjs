#!/usr/bin/env node
// Dev check for the example models (not part of `npm test`): runs every examples/models/*.onnx in onnxruntime-node on
// the committed 2000 test images and compares the number of correct predictions, and the logit-average ensemble of
// each pair, with the torch figures that scripts/train_fixtures.py wrote to models.json / pairs.json.
// Usage: node scripts/check_fixtures_ort.mjs   (exit status 1 on any mismatch)
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import ort from 'onnxruntime-node';

const examples = new URL('../examples/', import.meta.url).pathname;
// The normalisation train_fixtures.py used and wrote to each file's metadata (clafusion.input_mean / input_std).
const MEAN = 0.286;
const STD = 0.353;

/** Parse a gzip IDX file of uint8 (magic 0x0000, 0x08, ndim; ndim big-endian int32 sizes; data). */
function readIdx(path) {
  const raw = gunzipSync(readFileSync(path));
  if (raw[0] !== 0 || raw[1] !== 0 || raw[2] !== 0x08) throw new Error(`${path}: not a uint8 IDX file`);
  const ndim = raw[3];
  const shape = Array.from({ length: ndim }, (_, i) => raw.readInt32BE(4 + 4 * i));
  return { shape, data: raw.subarray(4 + 4 * ndim) };
}

/** (pixel/255 - mean)/std, every step rounded to float32 as torch does on float32 tensors. */
function normalise(pixels, mean, std) {
  const out = new Float32Array(pixels.length);
  const m = Math.fround(mean);
  const s = Math.fround(std);
  for (let i = 0; i < pixels.length; i++) out[i] = Math.fround(Math.fround(pixels[i] / 255) - m) / s;
  return out;
}

function countCorrect(logits, labels, classes) {
  let correct = 0;
  for (let n = 0; n < labels.length; n++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[n * classes + c] > logits[n * classes + best]) best = c;
    if (best === labels[n]) correct++;
  }
  return correct;
}

const images = readIdx(join(examples, 'data/fashion-mnist-test-2k-images-idx3-ubyte.gz'));
const labels = readIdx(join(examples, 'data/fashion-mnist-test-2k-labels-idx1-ubyte.gz')).data;
const [count, height, width] = images.shape;
const models = JSON.parse(readFileSync(join(examples, 'models/models.json'), 'utf8'));
const pairs = JSON.parse(readFileSync(join(examples, 'models/pairs.json'), 'utf8'));

const input = normalise(images.data, MEAN, STD);
let failures = 0;
const logitsByModel = {};
for (const [name, info] of Object.entries(models)) {
  const session = await ort.InferenceSession.create(join(examples, 'models', info.file));
  const feeds = { input: new ort.Tensor('float32', input, [count, 1, height, width]) };
  const logits = (await session.run(feeds)).logits;
  logitsByModel[name] = logits.data;
  const correct = countCorrect(logits.data, labels, logits.dims[1]);
  const ok = correct === info.correct_test2k;
  if (!ok) failures++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ort ${correct}/${count}, torch ${info.correct_test2k}/${count}`);
}
for (const [pair, info] of Object.entries(pairs)) {
  const deep = logitsByModel[info.deep];
  const shallow = logitsByModel[info.shallow];
  const averaged = deep.map((value, i) => (value + shallow[i]) / 2);
  const correct = countCorrect(averaged, labels, averaged.length / count);
  const ok = correct === info.ensemble_correct_test2k;
  if (!ok) failures++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ensemble ${pair}: ort ${correct}/${count}, torch ${info.ensemble_correct_test2k}`);
}
process.exit(failures === 0 ? 0 : 1);
