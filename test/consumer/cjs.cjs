// Run by test/consumer/run.sh in a fresh project that installed the packed tarball: the API from CommonJS
// (require of the ES module package, Node >= 20.19). A small activation-based fusion of the clone's MLP pair.
const assert = require('node:assert/strict');
const { join } = require('node:path');
const { fuse, inspectModel, isClafusionError } = require('clafusion');

async function main() {
  const examples = process.argv[2];
  const models = ['mlp_deep.onnx', 'mlp_shallow.onnx'].map((name) => join(examples, 'models', name));
  const data = `idx:${join(examples, 'data', 'fashion-mnist-train-1k-images-idx3-ubyte.gz')}`;
  const result = await fuse(models, { data, samples: 128 });
  assert.ok(result.timings.activations > 0, 'the activations were computed');
  const fused = inspectModel(result.bytes);
  assert.equal(fused.summary.depth, inspectModel(models[0]).summary.depth);
  await assert.rejects(fuse([models[0]], {}), (err) => isClafusionError(err, 'E_ARG'));
  console.log(`cjs: fused ${fused.summary.depth} layers from ${data.split('/').pop()}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
