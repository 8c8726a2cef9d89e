import { expect } from 'chai';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atomicWrite, checkOutputPath } from '../../lib/onnx/atomic.js';
import { writeModelBytes } from '../../lib/onnx/file.js';
import { expectCode } from '../support/errors.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** A pid that no process has now: a child that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('atomic writes', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'clafusion-atomic-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('refuses an empty path and anything but a regular file with E_ARG, leaving it as it was', async () => {
    expectCode(() => writeModelBytes('', new Uint8Array(4)), 'E_ARG', /non-empty file path/);
    expectCode(() => checkOutputPath(undefined), 'E_ARG');
    expectCode(() => writeModelBytes('out\0.onnx', new Uint8Array(4)), 'E_ARG', /NUL/);
    mkdirSync(join(dir, 'folder'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    symlinkSync('/dev/null', join(dir, 'null-link'));
    const server = createServer();
    await new Promise<void>((done) => server.listen(join(dir, 'socket'), done));
    try {
      const cases: [string, RegExp][] = [
        ['folder', /a directory/], ['fifo', /a FIFO/], ['socket', /a socket/], ['null-link', /a device/],
      ];
      for (const [name, kind] of cases) expectCode(() => writeModelBytes(join(dir, name), new Uint8Array(4)), 'E_ARG', kind);
      expectCode(() => writeModelBytes('/dev/full', new Uint8Array(4)), 'E_ARG', /a device/);
      expect(statSync(join(dir, 'fifo')).isFIFO()).to.equal(true);
      expect(statSync('/dev/full').isCharacterDevice()).to.equal(true);
      expect(readdirSync(dir).sort()).to.deep.equal(['fifo', 'folder', 'null-link', 'socket']);
    } finally {
      server.close();
    }
  });

  it('replaces a regular file with the new bytes', () => {
    writeFileSync(join(dir, 'out.onnx'), 'old');
    atomicWrite(join(dir, 'out.onnx'), [Uint8Array.of(1, 2), Uint8Array.of(3)]);
    expect(Array.from(readFileSync(join(dir, 'out.onnx')))).to.deep.equal([1, 2, 3]);
    expect(readdirSync(dir)).to.deep.equal(['out.onnx']);
  });

  it('removes stale temps of killed runs (recognised by name and a pid that is gone), keeps live ones', () => {
    const target = join(dir, 'out.onnx');
    const stale = `.out.onnx.clafusion-${deadPid()}-0badc0de.tmp`;
    const live = `.out.onnx.clafusion-${process.ppid}-0badc0de.tmp`; // our parent runs: not ours to remove
    const other = `.other.onnx.clafusion-${deadPid()}-0badc0de.tmp`; // another target's: left for its own write
    for (const name of [stale, live, other]) writeFileSync(join(dir, name), 'partial');
    atomicWrite(target, [Uint8Array.of(7)]);
    expect(readdirSync(dir).sort()).to.deep.equal([live, other, 'out.onnx'].sort());
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} during writes: the process still dies of it and leaves no temp file`, async function () {
      this.timeout(60_000);
      // The child writes 64 MiB outputs in a loop and reports each; the signal comes in the middle of one.
      const script = `
        import { atomicWrite } from ${JSON.stringify(join(ROOT, 'lib', 'onnx', 'atomic.ts'))};
        const chunk = new Uint8Array(2 ** 20).fill(1);
        const chunks = Array.from({ length: 64 }, () => chunk);
        for (let i = 0; ; i++) {
          atomicWrite(${JSON.stringify(join(dir, 'out.onnx'))}, chunks);
          process.stdout.write('w');
          await new Promise((resolve) => setImmediate(resolve));
        }`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      child.kill(signal);
      const [code, killedBy] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
      expect([code, killedBy]).to.deep.equal([null, signal]);
      expect(readdirSync(dir)).to.deep.equal(['out.onnx']);
      expect(statSync(join(dir, 'out.onnx')).size).to.equal(64 * 2 ** 20);
      expect(existsSync(join(dir, 'out.onnx'))).to.equal(true);
    });
  }
});
