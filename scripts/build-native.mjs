#!/usr/bin/env node
// Builds the native addon at install time (`npm ci` runs this), always offline:
//   1. cmake-js -> build-cmake/Release/clafusion.node (CPU, OpenMP). Without CMake: node-gyp -> build/Release.
//   2. only where nvcc exists: cmake-js -> build-cuda/Release/clafusion_cuda.node. A failure here is a warning,
//      never an install failure: lib/native.ts picks the CUDA build at run time only when it loads and sees a GPU.
// `--gyp` builds only with node-gyp (CI checks that fallback). Environment: CLAFUSION_SKIP_NATIVE=1 skips everything; CLAFUSION_CUDA=0 skips step 2; CLAFUSION_CUDA=1 makes
// a failing CUDA build an error.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
const nodeGyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');

function run(command, args, env = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  return result.status === 0;
}

function has(tool) {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

function buildWithGyp() {
  // npm sets npm_config_nodedir to the system Node's headers; pass it on so node-gyp never downloads them.
  const nodedir = process.env.npm_config_nodedir || dirname(dirname(process.execPath));
  return run(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`]);
}

function buildCpu() {
  if (has('cmake')) {
    if (run(process.execPath, [cmakeJs, 'build', '-O', 'build-cmake', '--log-level', 'warn'])) return true;
    console.error('clafusion: the CMake build failed; trying node-gyp');
  }
  return buildWithGyp();
}

function buildCuda() {
  const wanted = process.env.CLAFUSION_CUDA;
  if (wanted === '0' || !has('nvcc')) return;
  const ok = run(process.execPath, [cmakeJs, 'build', '-O', 'build-cuda', '-T', 'clafusion_cuda', '--log-level', 'warn',
    '--CDCLAFUSION_CUDA=ON']);
  if (!ok && wanted === '1') process.exit(1);
  if (!ok) console.error('clafusion: the optional CUDA addon did not build; the CPU addon will be used');
}

if (process.env.CLAFUSION_SKIP_NATIVE === '1') process.exit(0);
if (process.argv.includes('--gyp')) process.exit(buildWithGyp() ? 0 : 1);
if (!existsSync(cmakeJs) && !existsSync(nodeGyp)) {
  console.error('clafusion: cmake-js and node-gyp are missing from node_modules; cannot build the native addon');
  process.exit(1);
}
if (!buildCpu()) {
  console.error('clafusion: the native addon did not build. It needs a C++17 compiler with OpenMP (g++ >= 9) and\n' +
    'either CMake >= 3.18 or Python 3 with make (node-gyp). Install them, then run `npm run build:native`.');
  process.exit(1);
}
buildCuda();
