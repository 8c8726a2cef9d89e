import { expect } from 'chai';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  addonCandidates, cpuFlags, loadFirstWorking, loadedAddonPath, native, prebuiltUnfit, type AddonCandidate,
} from '../../lib/native.js';
import { expectCode } from '../support/errors.js';

const CPUINFO = 'processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx avx2 fma\n\n' +
  'processor\t: 1\nflags\t\t: fpu sse2\n';

/** A package root in a temporary folder; `files` maps relative paths to contents or to a file to copy. */
function fakePackage(files: Record<string, string | { copy: string }>): string {
  const root = mkdtempSync(join(tmpdir(), 'clafusion-loader-'));
  for (const [relative, content] of Object.entries(files)) {
    const path = join(root, relative);
    mkdirSync(dirname(path), { recursive: true });
    if (typeof content === 'string') writeFileSync(path, content);
    else copyFileSync(content.copy, path);
  }
  return root;
}

const PREBUILT = 'prebuilds/linux-x64/clafusion.node';
const MANIFEST = 'prebuilds/linux-x64/clafusion.json';

describe('native addon loader', () => {
  const roots: string[] = [];
  const makePackage = (files: Record<string, string | { copy: string }>) => {
    roots.push(fakePackage(files));
    return roots.at(-1)!;
  };
  after(() => roots.forEach((root) => rmSync(root, { recursive: true, force: true })));

  it('looks at the local CUDA, CMake and node-gyp builds before the prebuilt of this platform', () => {
    const candidates = addonCandidates('/pkg', {}, 'linux', 'x64');
    expect(candidates).to.deep.equal([
      { path: '/pkg/build-cuda/Release/clafusion_cuda.node', cuda: true, prebuilt: false },
      { path: '/pkg/build-cmake/Release/clafusion.node', cuda: false, prebuilt: false },
      { path: '/pkg/build/Release/clafusion.node', cuda: false, prebuilt: false },
      { path: '/pkg/prebuilds/linux-x64/clafusion.node', cuda: false, prebuilt: true },
    ]);
  });

  it('drops the CUDA build under CLAFUSION_DEVICE=cpu and looks only at CLAFUSION_ADDON when it is set', () => {
    expect(addonCandidates('/pkg', { CLAFUSION_DEVICE: 'cpu' }, 'darwin', 'arm64').map((c) => c.path)).to.deep.equal([
      '/pkg/build-cmake/Release/clafusion.node', '/pkg/build/Release/clafusion.node',
      '/pkg/prebuilds/darwin-arm64/clafusion.node',
    ]);
    expect(addonCandidates('/pkg', { CLAFUSION_ADDON: '/x/y.node' })).to.deep.equal(
      [{ path: '/x/y.node', cuda: false, prebuilt: false }]);
  });

  it('reads the CPU flags of the first processor in /proc/cpuinfo', () => {
    expect([...cpuFlags(CPUINFO)!]).to.deep.equal(['fpu', 'sse2', 'avx', 'avx2', 'fma']);
    expect(cpuFlags(null)).to.equal(null);
    expect(cpuFlags('processor : 0\n')).to.equal(null);
  });

  it('refuses a prebuilt whose manifest needs CPU flags this CPU lacks, naming them', () => {
    const root = makePackage({ [MANIFEST]: JSON.stringify({ cpuFlags: ['avx2', 'fma', 'bmi2', 'movbe'] }) });
    const addon = join(root, PREBUILT);
    expect(prebuiltUnfit(addon, new Set(['avx2', 'fma', 'bmi2', 'movbe', 'sse2']))).to.equal(null);
    expect(prebuiltUnfit(addon, new Set(['avx2', 'fma']))).to.equal('built for CPU flags this CPU lacks: bmi2 movbe');
    expect(prebuiltUnfit(addon, null)).to.match(/no \/proc\/cpuinfo/);
    expect(prebuiltUnfit(join(root, 'elsewhere', 'clafusion.node'), new Set())).to.equal(null);
  });

  it('without any addon throws E_NATIVE listing every place it looked and advice for consumers and clones', () => {
    const root = makePackage({});
    const candidates = addonCandidates(root, {}, 'linux', 'x64');
    expectCode(() => loadFirstWorking(candidates), 'E_NATIVE',
      /npx clafusion-build`.*npm rebuild clafusion`.*npm run build:native`/);
    try {
      loadFirstWorking(candidates);
    } catch (err) {
      for (const { path } of candidates) expect((err as Error).message).to.include(`${path}: not built`);
    }
  });

  it('loads the prebuilt when no local build exists, and skips a broken local build for it', () => {
    const real = loadedAddonPath();
    const root = makePackage({ [PREBUILT]: { copy: real }, 'build-cmake/Release/clafusion.node': 'not an ELF file' });
    const { addon, path } = loadFirstWorking(addonCandidates(root, { CLAFUSION_DEVICE: 'cpu' }, 'linux', 'x64'));
    expect(path).to.equal(join(root, PREBUILT));
    expect(addon.buildInfo().backend).to.equal(native().buildInfo().backend);
    expect(addon.firstNonFiniteF32(Float32Array.of(1, Number.NaN))).to.equal(1);
  });

  it('does not load a prebuilt this CPU cannot run, and says why with the loader errors of the others', () => {
    const root = makePackage({
      [PREBUILT]: { copy: loadedAddonPath() },
      [MANIFEST]: JSON.stringify({ cpuFlags: ['no_such_cpu_flag'] }),
      'build/Release/clafusion.node': 'not an ELF file',
    });
    const candidates: AddonCandidate[] = addonCandidates(root, { CLAFUSION_DEVICE: 'cpu' }, 'linux', 'x64');
    const load = () => loadFirstWorking(candidates);
    expectCode(load, 'E_NATIVE', /linux-x64\/clafusion\.node: built for CPU flags this CPU lacks: no_such_cpu_flag/);
    expectCode(load, 'E_NATIVE', /build\/Release\/clafusion\.node: .*(invalid ELF|too short)/);
  });

  it('native() caches the first working addon and reports which file it is', () => {
    expect(native()).to.equal(native());
    const candidates = addonCandidates().map((c) => c.path);
    expect(candidates).to.include(loadedAddonPath());
  });
});
