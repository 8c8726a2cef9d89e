#!/usr/bin/env bash
# Dev check of the fusion report (never run by `npm test`): fuses an example pair with the published CLI
# (dist/, rebuilt here), writes --report, and renders the page in Debian's headless chromium with the network cut
# off, to a PNG to look at. Usage: bash scripts/check-report.sh [pair: resnet|vgg|mlp] [out-dir]
#   apt-get install chromium     # once; the binary is chromium (or chromium-browser)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pair=${1:-resnet}
out=${2:-/tmp/clafusion-report-check}
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then echo "check-report: no chromium on PATH (apt-get install chromium)" >&2; exit 1; fi
mkdir -p "$out"
cd "$root"
nice npx tsc -p tsconfig.json
data=examples/data
nice node bin/clafusion.js fuse "examples/models/${pair}_deep.onnx" "examples/models/${pair}_shallow.onnx" -o "$out/fused.onnx" \
  --data "idx:$data/fashion-mnist-train-1k-images-idx3-ubyte.gz" \
  --eval-data "idx:$data/fashion-mnist-test-2k-images-idx3-ubyte.gz,$data/fashion-mnist-test-2k-labels-idx1-ubyte.gz" \
  --report "$out/fused.html"
# A proxy that refuses every connection and no DNS: the page must render from its own bytes.
nice "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --proxy-server=127.0.0.1:9 \
  --host-resolver-rules='MAP * ~NOTFOUND' --window-size="${WINDOW:-1200,5200}" \
  --screenshot="$out/report.png" "file://$out/fused.html" 2>"$out/chromium.log"
ls -l "$out/fused.html" "$out/report.png"
echo "check-report: look at $out/report.png"
