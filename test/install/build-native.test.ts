import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadedAddonPath } from '../../lib/native.js';
import {
  highestSymbolVersion, installPlan, neededLibraries, prebuiltDir, probeLoadedAddon, resolveBin,
} from '../../scripts/native-install.mjs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function writeFiles(root: string, files: Record<string, string>): void {
  for (const [relative, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, relative)), { recursive: true });
    writeFileSync(join(root, relative), content);
  }
}

describe('scripts/build-native.mjs', () => {
  let project: string;
  beforeEach(() => {
    project = mkdtempSync(join(tmpdir(), 'clafusion-consumer-'));
  });
  afterEach(() => rmSync(project, { recursive: true, force: true }));

  describe('resolveBin', () => {
    it("finds build tools npm hoisted to the consumer's node_modules", () => {
      writeFiles(project, {
        'node_modules/clafusion/package.json': '{"name":"clafusion"}',
        'node_modules/cmake-js/package.json': '{"name":"cmake-js","bin":{"cmake-js":"./bin/cmake-js"}}',
        'node_modules/node-gyp/package.json': '{"name":"node-gyp","bin":"./bin/node-gyp.js"}',
      });
      const pkg = join(project, 'node_modules', 'clafusion');
      expect(resolveBin('cmake-js', 'cmake-js', pkg)).to.equal(join(project, 'node_modules/cmake-js/bin/cmake-js'));
      expect(resolveBin('node-gyp', 'node-gyp', pkg)).to.equal(join(project, 'node_modules/node-gyp/bin/node-gyp.js'));
    });

    it("prefers the package's own copy, and answers null for a missing package or bin", () => {
      writeFiles(project, {
        'node_modules/clafusion/package.json': '{"name":"clafusion"}',
        'node_modules/clafusion/node_modules/cmake-js/package.json': '{"bin":{"cmake-js":"bin/cmake-js"}}',
        'node_modules/cmake-js/package.json': '{"bin":{"cmake-js":"bin/cmake-js"}}',
        'node_modules/node-gyp/package.json': '{"bin":{"other":"x.js"}}',
      });
      const pkg = join(project, 'node_modules', 'clafusion');
      expect(resolveBin('cmake-js', 'cmake-js', pkg)).to.equal(join(pkg, 'node_modules/cmake-js/bin/cmake-js'));
      expect(resolveBin('node-gyp', 'node-gyp', pkg)).to.equal(null);
      expect(resolveBin('no-such-build-tool', 'x', pkg)).to.equal(null);
    });

    it('finds the real cmake-js and node-gyp of this checkout', () => {
      for (const tool of ['cmake-js', 'node-gyp']) expect(existsSync(resolveBin(tool, tool, repoRoot)!)).to.equal(true);
    });
  });

  describe('installPlan', () => {
    const prebuilt = join(prebuiltDir('/pkg', 'linux', 'x64'), 'clafusion.node');
    const loads = (path: string) => () => ({ path, info: {} });

    it('skips everything under CLAFUSION_SKIP_NATIVE=1 without probing', () => {
      const probe = () => expect.fail('probed');
      expect(installPlan({ CLAFUSION_SKIP_NATIVE: '1', CLAFUSION_CUDA: '1' }, probe, prebuilt))
        .to.deep.equal({ cpu: 'skip', cuda: false });
    });

    it('uses the prebuilt only when the loader picks it, and compiles otherwise', () => {
      expect(prebuilt).to.equal('/pkg/prebuilds/linux-x64/clafusion.node');
      expect(installPlan({}, loads(prebuilt), prebuilt)).to.deep.equal({ cpu: 'prebuilt', cuda: false });
      expect(installPlan({}, loads('/pkg/build-cmake/Release/clafusion.node'), prebuilt).cpu).to.equal('compile');
      expect(installPlan({}, () => ({ error: 'killed by SIGILL' }), prebuilt).cpu).to.equal('compile');
    });

    it("always compiles in a clone's own `npm ci`, where prebuilds/ may be older than the sources", () => {
      const clone = { npm_config_local_prefix: '/src/clafusion', npm_package_json: '/src/clafusion/package.json' };
      const probe = () => expect.fail('probed');
      expect(installPlan(clone, probe, prebuilt)).to.deep.equal({ cpu: 'compile', cuda: false });
      const consumer = {
        npm_config_local_prefix: '/app', npm_package_json: '/app/node_modules/clafusion/package.json',
      };
      expect(installPlan(consumer, loads(prebuilt), prebuilt).cpu).to.equal('prebuilt');
    });

    it('compiles the CUDA addon only when CLAFUSION_CUDA=1', () => {
      expect(installPlan({ CLAFUSION_CUDA: '1' }, loads(prebuilt), prebuilt).cuda).to.equal(true);
      expect(installPlan({ CLAFUSION_CUDA: '0' }, loads(prebuilt), prebuilt).cuda).to.equal(false);
      expect(installPlan({ PATH: '/usr/local/cuda/bin' }, loads(prebuilt), prebuilt).cuda).to.equal(false);
    });
  });

  describe('probeLoadedAddon', () => {
    it("reports the package loader's choice from a child process, without CLAFUSION_ADDON", () => {
      writeFiles(project, {
        'package.json': '{"type":"module"}',
        'dist/native.js': 'export const native = () => ({ buildInfo: () => ({ backend: "cpu" }) });\n' +
          'export const loadedAddonPath = () => process.env.CLAFUSION_ADDON ?? "/chosen.node";\n',
      });
      expect(probeLoadedAddon(project, { ...process.env, CLAFUSION_ADDON: '/forced.node' }))
        .to.deep.equal({ path: '/chosen.node', info: { backend: 'cpu' } });
    });

    it('survives a loader that dies by a signal (an illegal instruction) or throws', () => {
      writeFiles(project, { 'dist/native.js': 'process.kill(process.pid, "SIGILL");\n' });
      expect(probeLoadedAddon(project)).to.deep.equal({ error: 'killed by SIGILL' });
      writeFiles(project, { 'dist/native.js': 'throw new Error("E_NATIVE: nothing loads");\n' });
      expect(probeLoadedAddon(project).error).to.include('E_NATIVE: nothing loads');
      rmSync(join(project, 'dist'), { recursive: true });
      expect(probeLoadedAddon(project).error).to.match(/ERR_MODULE_NOT_FOUND|Cannot find module/);
    });
  });

  describe('the prebuilt manifest', () => {
    it('reads the glibc version and the libraries the built addon needs (OpenMP among them)', function () {
      const addon = loadedAddonPath();
      const glibc = highestSymbolVersion(addon, 'GLIBC_');
      const libraries = neededLibraries(addon);
      if (glibc === null || libraries === null) this.skip();
      expect(glibc).to.match(/^2\.\d+$/);
      expect(libraries).to.include('libgomp.so.1');
    });
  });
});
