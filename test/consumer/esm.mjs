// Run by test/consumer/run.sh in a fresh project that installed the packed tarball: the API from an ES module.
// Fuses the clone's MLP pair of different depth by weights and inspects the result.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fuse, inspectModel, readNetwork } from 'clafusion';

const models = join(process.argv[2], 'models');
const deep = join(models, 'mlp_deep.onnx');
const shallow = join(models, 'mlp_shallow.onnx');

const result = await fuse([deep, shallow], { mode: 'weights' });
const fused = inspectModel(result.bytes);
const [deepReport, shallowReport] = [inspectModel(deep), inspectModel(shallow)];
assert.equal(fused.summary.depth, deepReport.summary.depth, 'the fused model has the deep model\'s depth');
assert.ok(shallowReport.summary.depth < deepReport.summary.depth);
assert.equal(result.alignments.length, 1);
assert.ok(result.layers.length > 0);
assert.equal(readNetwork(result.bytes).segments.length, result.network.segments.length);
console.log(`esm: fused ${fused.summary.depth} layers, ${fused.summary.parameters} parameters`);
