import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateCase, parseCase, reproducerCase, serializeCase } from './cases.js';
import { CaseRunner, FAILURES } from './runner.js';

const REGRESSIONS = join(import.meta.dirname, 'regressions');
const saved = existsSync(REGRESSIONS) ? readdirSync(REGRESSIONS).filter((name) => name.endsWith('.json')).sort() : [];


describe('fuzz harness: reproducers and a short seeded run', function () {
  this.timeout(300_000);
  // Generous: the limit is for real hangs, and a shared machine can be very slow.
  const runner = new CaseRunner(60_000);
  after(() => runner.close());

  for (const name of saved) {
    it(`replays ${name} without a crash, hang, uncoded error or leftover file`, async () => {
      const outcome = await runner.run(reproducerCase(readFileSync(join(REGRESSIONS, name), 'utf8')));
      expect(FAILURES.has(outcome.kind), `${outcome.kind}: ${outcome.detail}`).to.equal(false);
    });
  }

  it('generates the same cases from the same seed, and they survive a save and reload (NaN included)', () => {
    for (let i = 0; i < 200; i++) {
      const text = serializeCase(generateCase(7, i));
      expect(serializeCase(generateCase(7, i))).to.equal(text);
      expect(serializeCase(parseCase(text))).to.equal(text);
    }
  });

  it('runs 40 generated cases (seed 2) without a failure', async () => {
    for (let i = 0; i < 40; i++) {
      const c = generateCase(2, i);
      const outcome = await runner.run(c);
      const what = `case ${i} ${serializeCase(c)}: ${outcome.kind}: ${outcome.detail}`;
      expect(FAILURES.has(outcome.kind), what).to.equal(false);
    }
  });

  it('sees a crash and a hang as such, and keeps going after each', async () => {
    const short = new CaseRunner(8000);
    try {
      expect((await short.run({ target: 'selftest', action: 'kill' })).kind).to.equal('crash');
      expect((await short.run({ target: 'selftest', action: 'block' })).kind).to.equal('hang');
    } finally {
      short.close();
    }
    expect((await runner.run({ target: 'solver', fn: 'uniform', args: [{ t: 'plain', v: 4 }] })).kind).to.equal('ok');
  });
});
