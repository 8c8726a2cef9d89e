import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
// semver comes with cmake-js and node-gyp; loaded untyped.
const semver = createRequire(join(repoRoot, 'package.json'))('semver') as {
  minVersion(range: string): { version: string };
  satisfies(version: string, range: string): boolean;
};

/** The files `npm pack` would put in the tarball (without running prepack, so without a fresh prebuilt). */
function packedFiles(): string[] {
  const args = ['pack', '--dry-run', '--json', '--ignore-scripts'];
  const pack = spawnSync('npm', args, { cwd: repoRoot, encoding: 'utf8' });
  expect(pack.status, pack.stderr).to.equal(0);
  return (JSON.parse(pack.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(repoRoot, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(repoRoot.length + 1));
}

/** The CLAFUSION_ environment variables that the shipped code, the scripts and the benchmarks read. */
function environmentVariablesRead(): Set<string> {
  const sources = ['lib', 'scripts', 'bin', 'benchmarks', 'native'].flatMap(filesUnder)
    .filter((file) => /\.(ts|mjs|cjs|js|cpp|hpp|cu)$/.test(file));
  const reads = /(?:process\.env\.|env\.|getenv\(")(CLAFUSION_[A-Z0-9_]+)/g;
  const readsOf = (file: string) => [...readFileSync(join(repoRoot, file), 'utf8').matchAll(reads)].map((m) => m[1]);
  return new Set(sources.flatMap(readsOf));
}

describe('the npm package', () => {
  it('ships what a build from source needs and leaves examples, tests and benchmarks in the repository', function () {
    this.timeout(60_000);
    const files = new Set(packedFiles());
    const builderImports = [...readFileSync(join(repoRoot, 'scripts/build-native.mjs'), 'utf8')
      .matchAll(/from '\.\/([^']+)'/g)].map((m) => `scripts/${m[1]}`);
    const needed = ['CMakeLists.txt', 'binding.gyp', 'scripts/build-native.mjs', 'scripts/gyp-config.cjs',
      ...builderImports, ...filesUnder('cmake'), ...filesUnder('native'), ...Object.values(manifest.bin as object)];
    for (const file of needed) expect(files.has(file), file).to.equal(true);
    expect(builderImports).to.include('scripts/native-install.mjs');
    for (const file of files) expect(file).to.not.match(/^(examples|test|benchmarks|build[^/]*)\//);
  });

  it('documents in the README every CLAFUSION_ environment variable the code reads', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const variables = environmentVariablesRead();
    expect([...variables]).to.include.members(['CLAFUSION_ADDON', 'CLAFUSION_SKIP_NATIVE', 'CLAFUSION_GEMM_KERNEL']);
    const undocumented = [...variables].filter((name) => !readme.includes(`\`${name}`));
    expect(undocumented, 'add them to the table in the README\'s Install section').to.deep.equal([]);
  });

  it('is an ES module package whose one entry carries types, for import and require alike', () => {
    expect(manifest.type).to.equal('module');
    expect(manifest.exports['.']).to.deep.equal({ types: './dist/index.d.ts', default: './dist/index.js' });
    expect(manifest.binary.napi_versions).to.deep.equal([8]);
  });

  it("keeps engines true: every runtime dependency in the lockfile runs on each range's oldest Node", () => {
    const oldest = (manifest.engines.node as string).split('||').map((range) => semver.minVersion(range).version);
    expect(oldest).to.deep.equal(['20.19.0', '22.12.0']);
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8'));
    const runtime = Object.entries(lock.packages as Record<string, { dev?: boolean; engines?: { node?: string } }>)
      .filter(([path, entry]) => path !== '' && !entry.dev && entry.engines?.node);
    expect(runtime.map(([path]) => path)).to.include('node_modules/node-gyp');
    for (const [path, entry] of runtime) {
      for (const version of oldest) {
        expect(semver.satisfies(version, entry.engines!.node!), `${path} on Node ${version}`).to.equal(true);
      }
    }
  });
});
