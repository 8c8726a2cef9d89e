#!/usr/bin/env bash
# Prepares a GPU check of the CUDA addon for a machine with an NVIDIA GPU but no Node or npm packages:
# copies into .devcarry/ (git-ignored) the Node binary (xz-compressed), build-cuda/Release/clafusion_cuda.node and the
# shared libraries they need beyond glibc. Build the addon first:
#   npx cmake-js build -O build-cuda -T clafusion_cuda --CDCLAFUSION_CUDA=ON
# then, on the GPU machine, from the repository root (with .devcarry carried along):
#   bash scripts/gpu/run-on-device.sh            # writes gpu-check.json and log.txt to $OUT
# Without a GPU, `node scripts/gpu/check.cjs build-cuda/Release/clafusion_cuda.node /tmp/out` checks the script itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
carry="$root/.devcarry"
addon="$root/build-cuda/Release/clafusion_cuda.node"
if [ ! -f "$addon" ]; then
  echo "gpu-check: $addon is missing; build it with: npx cmake-js build -O build-cuda -T clafusion_cuda --CDCLAFUSION_CUDA=ON" >&2
  exit 1
fi
if ! git -C "$root" check-ignore -q .devcarry; then echo "/.devcarry/" >> "$root/.git/info/exclude"; fi
mkdir -p "$carry/lib" "$carry/lib-fallback"

node_bin=$(readlink -f "$(command -v node)")
if ldd "$node_bin" | grep -q "libnode"; then
  echo "gpu-check: $node_bin links libnode dynamically; copy that library into $carry/lib too" >&2
  exit 1
fi
# Compressing ~100 MB takes minutes on a small machine: only when the binary changed.
if [ ! -f "$carry/node.xz" ] || [ "$node_bin" -nt "$carry/node.xz" ]; then
  nice xz -T2 -6 -c "$node_bin" > "$carry/node.xz.tmp"
  mv "$carry/node.xz.tmp" "$carry/node.xz"
fi
cp "$addon" "$carry/clafusion_cuda.node"

# OpenMP's runtime is often absent on GPU images; libstdc++ / libgcc_s only as a fallback (the machine's own are newer).
library() { ldd "$1" | awk -v name="$2" '$1 == name { print $3 }'; }
cp "$(library "$addon" libgomp.so.1)" "$carry/lib/"
for name in libstdc++.so.6 libgcc_s.so.1; do cp "$(library "$addon" "$name")" "$carry/lib-fallback/"; done
du -sh "$carry"
