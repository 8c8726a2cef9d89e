/**
 * `npm run bench [-- --quick] [-- --only emd,sinkhorn]`: runs every benchmarks/cases/*.ts, each measuring our native
 * core against a baseline (POT / numpy via Debian's python3, when present) in the same run, prints a table of
 * medians and ratios, and writes benchmarks/results/latest.json (a full run; partial runs write beside it).
 * Never part of `npm test`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpus } from 'node:os';
import type { BenchContext, BenchRecord } from './types.js';

const here = dirname(fileURLToPath(import.meta.url));

function detectPot(python: string): boolean {
  const probe = spawnSync(python, ['-c', 'import ot, numpy'], { stdio: 'ignore' });
  return probe.status === 0;
}

function formatRow(r: BenchRecord): string {
  const ratio = r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`;
  const goal = r.goal === undefined ? '' : ` (goal ${r.goal}x${r.ratio !== null && r.ratio >= r.goal ? ', met' : ', NOT met'})`;
  const base = r.baseline_ms === null ? 'n/a' : r.baseline_ms.toFixed(2);
  return `${r.case.padEnd(34)} ${r.size.padEnd(22)} ${r.ours_ms.toFixed(2).padStart(10)} ${base.padStart(10)}  ${ratio}${goal}  ${r.baseline}${r.note ? ` — ${r.note}` : ''}`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const onlyArg = args.find((a) => a.startsWith('--only'));
  const only = onlyArg ? (onlyArg.split('=')[1] ?? args[args.indexOf(onlyArg) + 1] ?? '').split(',') : undefined;
  const python = process.env.CLAFUSION_PYTHON ?? '/usr/bin/python3';
  const ctx: BenchContext = { python, pot: detectPot(python), quick: args.includes('--quick') };
  if (!ctx.pot) console.error(`benchmarks: ${python} with POT/numpy not found; baselines are skipped (apt install python3-pot)`);

  const caseFiles = readdirSync(join(here, 'cases')).filter((f) => f.endsWith('.ts')).sort();
  const records: BenchRecord[] = [];
  for (const file of caseFiles) {
    const name = file.replace(/\.ts$/, '');
    if (only && !only.includes(name)) continue;
    console.error(`benchmarks: running ${name}...`);
    const mod = (await import(pathToFileURL(join(here, 'cases', file)).href)) as { run(ctx: BenchContext): Promise<BenchRecord[]> };
    for (const record of await mod.run(ctx)) {
      records.push(record);
      console.log(formatRow(record));
    }
  }
  // Only a full run replaces latest.json (the figures the README quotes); partial and quick runs go beside it.
  const out = join(here, 'results', ctx.quick ? 'quick.json' : only ? `only-${only.join('-')}.json` : 'latest.json');
  mkdirSync(dirname(out), { recursive: true });
  const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version };
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), machine, records }, null, 2) + '\n');
  console.error(`benchmarks: wrote ${out}`);
}

await main();
