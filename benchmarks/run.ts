/**
 * `npm run bench [-- --quick] [-- --only emd,sinkhorn] [-- --large]`: runs every benchmarks/cases/*.ts, each measuring
 * our native core against a baseline (POT / numpy via Debian's python3, when present) in the same run, prints a table
 * of medians and ratios, and writes benchmarks/results/latest.json (a full run; partial runs write beside it).
 * Never part of `npm test`. `--help` lists the options.
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
  const goal = r.goal === undefined ? '' : ` (goal ${Number(r.goal.toFixed(2))}x${r.ratio !== null && r.ratio >= r.goal ? ', met' : ', NOT met'})`;
  const base = r.baseline_ms === null ? 'n/a' : r.baseline_ms.toFixed(2);
  return `${r.case.padEnd(34)} ${r.size.padEnd(22)} ${r.ours_ms.toFixed(2).padStart(10)} ${base.padStart(10)}  ${ratio}${goal}  ${r.baseline}${r.note ? ` — ${r.note}` : ''}`;
}

const HELP = `npm run bench -- [options]
  --quick         fewer sizes and repetitions (writes benchmarks/results/quick.json)
  --only a,b      only the cases benchmarks/cases/a.ts, b.ts (writes only-a-b.json)
  --large         also the ImageNet-scale cases (cases/imagenet.ts: ResNet-50/101/152-shaped pairs at 224x224,
                  generated here; about an hour on 2 cores). A child process per measurement reports its peak RSS;
                  CLAFUSION_BENCH_MEMORY_CAP_GIB (default 6) stops one that grows beyond it.
                  CLAFUSION_BENCH_IMAGENET_SAMPLES=n: its activation cases at n samples only;
                  CLAFUSION_BENCH_IMAGENET_PARTS=weights,activations,memory: the parts it runs;
                  CLAFUSION_BENCH_IMAGENET_PAIRS=resnet101+50,resnet152+101: the pairs of the first two;
                  CLAFUSION_BENCH_IMAGENET_CHUNK=n: at most n samples per model run;
                  CLAFUSION_BENCH_IMAGENET_MEMORY_GIB=g: a streaming budget of g GiB (default: fuse's).
  --help          this text
Without --quick and --only the run is full and writes benchmarks/results/latest.json.`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help')) {
    console.log(HELP);
    return;
  }
  const onlyArg = args.find((a) => a.startsWith('--only'));
  const only = onlyArg ? (onlyArg.split('=')[1] ?? args[args.indexOf(onlyArg) + 1] ?? '').split(',') : undefined;
  const python = process.env.CLAFUSION_PYTHON ?? '/usr/bin/python3';
  const ctx: BenchContext = { python, pot: detectPot(python), quick: args.includes('--quick'), large: args.includes('--large') };
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
