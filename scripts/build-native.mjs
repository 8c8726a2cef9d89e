#!/usr/bin/env node
// Builds or checks the native addon, always offline. Modes:
//   --install   npm's install step (also `npm rebuild clafusion`). Uses the shipped prebuilt when the package's
//               loader picks it in a child process; otherwise compiles (below). Never fails the install: a skipped
//               or failed build only warns, and inspect/eval work without the addon (native calls then throw E_NATIVE).
//   (none)      `npm run build:native` in a clone, `npx clafusion-build` in a project that depends on clafusion:
//               compiles the CPU addon, cmake-js -> build-cmake/Release, or without CMake node-gyp -> build/Release.
//   --gyp       node-gyp only (CI checks that fallback).
//   --prebuilt  `npm pack`'s prepack: the portable CPU addon (x86-64-v3 on x64, never -march=native) and its
//               manifest -> prebuilds/<platform>-<arch>/.
// cmake-js and node-gyp are found through Node's module resolution, so a consumer's hoisted copies work.
// Environment: CLAFUSION_SKIP_NATIVE=1 skips --install; CLAFUSION_CUDA=1 also compiles the CUDA addon
// (build-cuda/Release/clafusion_cuda.node), which is otherwise never built.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  X86_64_V3_FLAGS, highestSymbolVersion, installPlan, neededLibraries, prebuiltDir, probeLoadedAddon, resolveBin,
} from './native-install.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cmakeJs = resolveBin('cmake-js', 'cmake-js', root);
const nodeGyp = resolveBin('node-gyp', 'node-gyp', root);
const REQUIREMENTS = 'a C++17 compiler with OpenMP (g++ >= 9) and either CMake >= 3.18 or Python 3 with make';

function log(message) {
  console.error(`clafusion: ${message}`);
}

function run(command, args) {
  return spawnSync(command, args, { cwd: root, stdio: 'inherit' }).status === 0;
}

function has(tool) {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

function cmakeBuild(outDir, ...defines) {
  if (!cmakeJs) return false;
  return run(process.execPath, [cmakeJs, 'build', '-O', outDir, '--log-level', 'warn', ...defines]);
}

function buildWithGyp() {
  if (!nodeGyp) {
    log('node-gyp is not installed next to clafusion');
    return false;
  }
  // npm sets npm_config_nodedir to the system Node's headers; pass it on so node-gyp never downloads them.
  const nodedir = process.env.npm_config_nodedir || dirname(dirname(process.execPath));
  return run(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`]);
}

function buildCpu() {
  if (cmakeJs && has('cmake')) {
    if (cmakeBuild('build-cmake')) return true;
    log('the CMake build failed; trying node-gyp');
  }
  return buildWithGyp();
}

function buildCuda() {
  const ok = cmakeBuild('build-cuda', '-T', 'clafusion_cuda', '--CDCLAFUSION_CUDA=ON');
  if (!ok) log('the CUDA addon (CLAFUSION_CUDA=1) did not build; the CPU addon will be used');
  return ok;
}

/** Builds prebuilds/<platform>-<arch>/clafusion.node with fixed, portable flags and writes what it needs. */
function buildPrebuilt() {
  const x64 = process.arch === 'x64';
  if (!cmakeBuild('build-prebuilt', `--CDCLAFUSION_ARCH=${x64 ? 'x86-64-v3' : 'none'}`)) return false;
  const dir = prebuiltDir(root);
  const addon = join(dir, 'clafusion.node');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(root, 'build-prebuilt', 'Release', 'clafusion.node'), addon);
  const manifest = {
    napi: 8,
    march: x64 ? 'x86-64-v3' : 'baseline',
    cpuFlags: x64 ? X86_64_V3_FLAGS : [],
    glibc: highestSymbolVersion(addon, 'GLIBC_'),
    glibcxx: highestSymbolVersion(addon, 'GLIBCXX_'),
    libraries: neededLibraries(addon),
  };
  writeFileSync(join(dir, 'clafusion.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const check = spawnSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(addon)}).buildInfo())`],
    { stdio: 'inherit' });
  log(`prebuilt ${relative(root, addon)}: ${JSON.stringify(manifest)}`);
  return check.status === 0;
}

function install() {
  const prebuilt = join(prebuiltDir(root), 'clafusion.node');
  const plan = installPlan(process.env, () => probeLoadedAddon(root), prebuilt);
  if (plan.cpu === 'skip') log('CLAFUSION_SKIP_NATIVE=1: nothing checked or compiled (a prebuilt still loads)');
  if (plan.cpu === 'prebuilt') log(`using the prebuilt addon ${relative(root, prebuilt)}`);
  if (plan.cpu === 'compile' && !buildCpu()) {
    log(`the native addon did not build. It needs ${REQUIREMENTS}. inspect and eval work without it; the other\n` +
      'commands throw E_NATIVE until you install those and run `npx clafusion-build` (or `npm rebuild clafusion`).');
  }
  if (plan.cuda) buildCuda();
  return true;
}

function main(argv) {
  if (argv.includes('--install')) return install();
  if (argv.includes('--gyp')) return buildWithGyp();
  if (argv.includes('--prebuilt')) return buildPrebuilt();
  if (!buildCpu()) {
    log(`the native addon did not build; it needs ${REQUIREMENTS}`);
    return false;
  }
  return process.env.CLAFUSION_CUDA === '1' ? buildCuda() : true;
}

process.exit(main(process.argv.slice(2)) ? 0 : 1);
