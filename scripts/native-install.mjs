// The pieces of scripts/build-native.mjs, kept apart so test/install/ can check them without compiling anything.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The CPU flags (as /proc/cpuinfo names them) that -march=x86-64-v3 lets the compiler use anywhere: the shipped
 * x64 prebuilt needs all of them ("abm" is LZCNT). lib/native.ts reads them from the prebuilt's manifest.
 */
export const X86_64_V3_FLAGS = ['avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'abm', 'movbe', 'xsave'];

/**
 * The executable of `bin` from package `pkg`, found the way Node finds `require(pkg)` from `packageRoot`: inside
 * the package, then in every node_modules above it (npm hoists cmake-js and node-gyp to the consumer's). Null when
 * the package is not installed or has no such bin.
 */
export function resolveBin(pkg, bin, packageRoot) {
  const requireFromPackage = createRequire(join(packageRoot, 'package.json'));
  let manifestPath;
  try {
    manifestPath = requireFromPackage.resolve(`${pkg}/package.json`);
  } catch {
    return null;
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const relative = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.[bin];
  return relative ? join(dirname(manifestPath), relative) : null;
}

/** Where the prebuilt CPU addon of one platform lives in the package (prebuildify's layout). */
export function prebuiltDir(packageRoot, platform = process.platform, arch = process.arch) {
  return join(packageRoot, 'prebuilds', `${platform}-${arch}`);
}

/**
 * Which addon the package's own loader (dist/native.js) picks, asked in a child process so that an addon which
 * crashes on load (a CPU without the prebuilt's instructions, a too old glibc) cannot take the install down.
 * Returns { path, info } or { error }.
 */
export function probeLoadedAddon(packageRoot, env = process.env) {
  const loader = pathToFileURL(join(packageRoot, 'dist', 'native.js')).href;
  const code = `try {
      const m = await import(${JSON.stringify(loader)});
      const info = m.native().buildInfo();
      process.stdout.write(JSON.stringify({ path: m.loadedAddonPath(), info }));
    } catch (err) {
      process.stdout.write(JSON.stringify({ error: String(err?.message ?? err) }));
    }`;
  const childEnv = { ...env };
  delete childEnv.CLAFUSION_ADDON;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', code], { env: childEnv, encoding: 'utf8' });
  if (child.status === 0) return JSON.parse(child.stdout);
  return { error: child.signal ? `killed by ${child.signal}` : `exit code ${child.status}: ${child.stderr.trim()}` };
}

/**
 * True when npm runs the install step of the project itself (`npm ci` in a clone), not of a dependency: npm then
 * points npm_package_json into its own prefix (onnxruntime-node's install tells the two apart the same way).
 */
export function isProjectInstall(env) {
  return Boolean(env.npm_package_json && env.npm_config_local_prefix &&
    dirname(env.npm_package_json) === env.npm_config_local_prefix);
}

/**
 * What an install does, from its environment: skip everything, use the prebuilt, or compile the CPU addon; and
 * whether to compile the CUDA addon too (only when asked with CLAFUSION_CUDA=1, never because nvcc exists). A clone
 * always compiles: its prebuilds/ is whatever the last `npm pack` left, maybe older than the sources.
 * `probe` answers like probeLoadedAddon; it is not called when the answer cannot change the plan.
 */
export function installPlan(env, probe, prebuiltPath) {
  if (env.CLAFUSION_SKIP_NATIVE === '1') return { cpu: 'skip', cuda: false };
  const cuda = env.CLAFUSION_CUDA === '1';
  if (isProjectInstall(env)) return { cpu: 'compile', cuda };
  const loaded = probe();
  return { cpu: !loaded.error && loaded.path === prebuiltPath ? 'prebuilt' : 'compile', cuda };
}

/** The highest symbol version of `prefix` (GLIBC_, GLIBCXX_) that an ELF file needs, via objdump; null without. */
export function highestSymbolVersion(file, prefix) {
  const dump = spawnSync('objdump', ['-T', file], { encoding: 'utf8' });
  if (dump.status !== 0) return null;
  const versions = [...dump.stdout.matchAll(new RegExp(`\\(${prefix}([0-9.]+)\\)`, 'g'))].map((m) => m[1]);
  versions.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return versions.at(-1) ?? null;
}

/** The shared libraries an ELF file needs (readelf -d), or null without readelf. */
export function neededLibraries(file) {
  const dump = spawnSync('readelf', ['-d', file], { encoding: 'utf8' });
  if (dump.status !== 0) return null;
  return [...dump.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
}
