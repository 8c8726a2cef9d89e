#!/usr/bin/env bash
# Installs what users install: packs this clone and installs the tarball into an empty project from npm's cache (the
# registry only for package metadata that a lockfile-driven `npm ci` never cached; the onnxruntime download skipped,
# no Node headers fetched), with no compiler, CMake, make or Python on PATH, so only the shipped prebuilt can serve.
# Then runs there an ES module, a CommonJS script and a strict `tsc --noEmit` against the clone's examples, checks
# what works without the addon, and that the E_NATIVE advice (`npx clafusion-build`) compiles one.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "--- npm pack (prepack builds prebuilds/linux-x64/clafusion.node)"
(cd "$repo" && npm pack --pack-destination "$work" >&2)
tgz="$(ls "$work"/clafusion-*.tgz)"
tarball="$(basename "$tgz")"
echo "$tarball: $(du -k "$tgz" | cut -f1) KiB packed"

project="$work/project"
mkdir "$project"
cp "$repo"/test/consumer/{esm.mjs,cjs.cjs,api.ts,api.cts,tsconfig.json} "$project/"
cd "$project"
npm init -y >/dev/null

nocompiler="$work/bin"
mkdir "$nocompiler"
ln -s "$(command -v node)" "$(command -v npm)" "$(command -v npx)" /bin/sh "$nocompiler/"
version() { node -p "require('$repo/node_modules/$1/package.json').version"; }
echo "--- npm install $tarball into an empty project, PATH without a compiler"
start=$(date +%s%N)
PATH="$nocompiler" ONNXRUNTIME_NODE_INSTALL=skip npm install --prefer-offline --no-audit --no-fund \
  "$tgz" "typescript@$(version typescript)" "@types/node@$(version @types/node)"
took=$(( ($(date +%s%N) - start) / 1000000 ))
echo "install took $took ms; unpacked: $(du -sk node_modules/clafusion | cut -f1) KiB"
test -f node_modules/clafusion/prebuilds/linux-x64/clafusion.node
test ! -e node_modules/clafusion/build-cmake
test ! -e node_modules/clafusion/build

echo "--- ESM, CommonJS and strict tsc consumers"
node esm.mjs "$repo/examples"
node cjs.cjs "$repo/examples"
npx tsc -p tsconfig.json

echo "--- without an addon: inspect and eval work, fuse throws E_NATIVE with advice that works"
CLAFUSION_ADDON=/nonexistent.node npx clafusion inspect "$repo/examples/models/mlp_deep.onnx" >/dev/null
data="$repo/examples/data/fashion-mnist-test-2k"
CLAFUSION_ADDON=/nonexistent.node npx clafusion eval "$repo/examples/models/mlp_deep.onnx" \
  --data "idx:$data-images-idx3-ubyte.gz,$data-labels-idx1-ubyte.gz"
if CLAFUSION_ADDON=/nonexistent.node node esm.mjs "$repo/examples" 2>"$work/err"; then
  echo "fuse without an addon did not fail" >&2
  exit 1
fi
grep -q "code: 'E_NATIVE'" "$work/err"
grep -q 'npx clafusion-build' "$work/err"
# The advice compiles from source with the cmake-js npm hoisted into this project; without the prebuilt, that serves.
npx clafusion-build
mv node_modules/clafusion/prebuilds "$work/prebuilds.off"
node esm.mjs "$repo/examples"
