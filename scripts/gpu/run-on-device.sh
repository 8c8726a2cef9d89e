#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, after scripts/gpu-check.sh prepared .devcarry/ here:
# unpacks the carried Node, then runs scripts/gpu/check.cjs against the carried CUDA addon. Results: $OUT.
set -uo pipefail
carry=.devcarry
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out"
# The carried node is xz-compressed (the device tool carries at most 64 MiB); Python's lzma is always there.
python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('$carry/node.xz'), open('/tmp/clafusion-node', 'wb'))" || exit 1
chmod +x /tmp/clafusion-node
export LD_LIBRARY_PATH="$PWD/$carry/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ldd /tmp/clafusion-node "$carry/clafusion_cuda.node" | grep -q "not found"; then
  export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$PWD/$carry/lib-fallback"  # this machine lacks libstdc++ / libgcc_s
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee "$out/nvidia-smi.txt"
/tmp/clafusion-node scripts/gpu/check.cjs "$carry/clafusion_cuda.node" "$out" "$@" 2>&1 | tee "$out/log.txt"
