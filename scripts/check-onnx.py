#!/usr/bin/env python3
"""Dev check (not part of npm test): run onnx.checker (full check, with strict shape inference) on ONNX models that
clafusion emitted, and compare them with the source model in onnx's reference shape inference.

  /usr/bin/python3 scripts/check-onnx.py                 # emit every examples/models/*.onnx and
                                                         # test/fixtures/graph/*.onnx through ONNX -> IR -> ONNX
                                                         # (with and without taps), then check the results
  /usr/bin/python3 scripts/check-onnx.py a.onnx b.onnx   # check the given files only

Exit code 0 when every model passes, 1 otherwise. Needs the `onnx` Python package and `npx tsx` (repo devDependency).
"""
import glob
import os
import subprocess
import sys
import tempfile

import onnx
import onnx.checker
import onnx.shape_inference

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Reads each source model, recognises it, emits it (plain, and with a preact and an output tap on every unit),
# and writes the bytes under the output folder given as the first argument.
EMIT_SCRIPT = r"""
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readNetwork } from './lib/graph/recognise.ts';
import { emitModel } from './lib/graph/emit.ts';
import { allLayers, hiddenUnits } from './lib/ir/network.ts';
const [outDir, ...sources] = process.argv.slice(-1)[0].split('\n');
for (const source of sources) {
  const network = readNetwork(source);
  const name = basename(source, '.onnx');
  writeFileSync(join(outDir, `${name}.emitted.onnx`), emitModel(network).bytes);
  const names = [...hiddenUnits(network).map((u) => u.name), ...allLayers(network).map((l) => l.name)];
  const taps = [...new Set(names)].flatMap((layer) => [{ layer, point: 'preact' }, { layer, point: 'output' }]);
  writeFileSync(join(outDir, `${name}.taps.onnx`), emitModel(network, { taps }).bytes);
}
"""


def emit_all(out_dir):
    sources = sorted(glob.glob(os.path.join(ROOT, "examples/models/*.onnx")) + glob.glob(os.path.join(ROOT, "test/fixtures/graph/*.onnx")))
    if not sources:
        sys.exit("no source models found under examples/models or test/fixtures/graph")
    arg = "\n".join([out_dir] + sources)
    subprocess.run(["npx", "tsx", "-e", EMIT_SCRIPT, arg], cwd=ROOT, check=True)
    return sorted(glob.glob(os.path.join(out_dir, "*.onnx")))


def check(path):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    outputs = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in inferred.graph.output}
    return f"ir {model.ir_version}, opset {model.opset_import[0].version}, {len(model.graph.node)} nodes, outputs {outputs}"


def main():
    with tempfile.TemporaryDirectory(prefix="clafusion-check-") as tmp:
        paths = sys.argv[1:] or emit_all(tmp)
        failures = 0
        for path in paths:
            try:
                print(f"ok    {os.path.basename(path)}: {check(path)}")
            except Exception as err:  # report every model, then fail
                failures += 1
                print(f"FAIL  {os.path.basename(path)}: {err}")
        print(f"{len(paths) - failures}/{len(paths)} models pass onnx.checker (onnx {onnx.__version__})")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
