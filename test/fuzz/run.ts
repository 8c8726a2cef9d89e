/**
 * `npm run fuzz -- --seconds N [--seed S] [--timeout MS]`: generates cases from the seed (test/fuzz/cases.ts) and
 * runs them (test/fuzz/runner.ts) until N seconds have passed. Every crash, hang, uncoded error or leftover file is
 * saved as test/fuzz/regressions/<hash>.json, which `npm test` replays (test/fuzz/regressions.test.ts), and fails
 * the run. Prints what ran, per target and outcome, and the cases per minute.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateCase, serializeCase } from './cases.js';
import { CaseRunner, FAILURES } from './runner.js';

export const REGRESSIONS = join(import.meta.dirname, 'regressions');

function options(): { seconds: number; seed: number; timeout: number } {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '60' },
      seed: { type: 'string', default: '1' },
      timeout: { type: 'string', default: '10000' },
    },
  });
  const [seconds, seed, timeout] = [Number(values.seconds), Number(values.seed), Number(values.timeout)];
  if (!(seconds > 0) || !Number.isInteger(seed) || !(timeout > 0)) {
    throw new Error('usage: npm run fuzz -- --seconds N [--seed S] [--timeout MS]');
  }
  return { seconds, seed, timeout };
}

async function main(): Promise<number> {
  const { seconds, seed, timeout } = options();
  const runner = new CaseRunner(timeout);
  const tally = new Map<string, number>();
  const failures: string[] = [];
  const start = Date.now();
  let index = 0;
  for (; Date.now() - start < seconds * 1000; index++) {
    const c = generateCase(seed, index);
    const outcome = await runner.run(c);
    const key = `${c.target} ${outcome.kind}${outcome.kind === 'coded' ? ' ' + outcome.detail : ''}`;
    tally.set(key, (tally.get(key) ?? 0) + 1);
    if (!FAILURES.has(outcome.kind)) continue;
    const text = serializeCase(c);
    const name = createHash('sha1').update(text).digest('hex').slice(0, 12);
    mkdirSync(REGRESSIONS, { recursive: true });
    const found = JSON.stringify({ seed, index, ...outcome });
    writeFileSync(join(REGRESSIONS, `${name}.json`), `{"found": ${found},\n"case": ${text}}\n`);
    const where = `test/fuzz/regressions/${name}.json`;
    failures.push(`case ${index} (${c.target}): ${outcome.kind}: ${outcome.detail.slice(0, 300)} -> ${where}`);
  }
  runner.close();
  const minutes = (Date.now() - start) / 60_000;
  const rate = Math.round(index / minutes);
  console.log(`fuzz: seed ${seed}, ${index} cases in ${(minutes * 60).toFixed(1)} s (${rate} cases/minute)`);
  for (const [key, count] of [...tally].sort()) console.log(`  ${key.padEnd(40)} ${count}`);
  for (const failure of failures) console.log(`FAIL ${failure}`);
  console.log(failures.length === 0 ? 'fuzz: no failures' : `fuzz: ${failures.length} failures`);
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = await main();
