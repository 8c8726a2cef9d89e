/**
 * The `clafusion` command line: one subcommand per stage of the flow. Results go to stdout (`--json` for machines),
 * progress and logs to stderr. Exit codes: 0 ok, 1 failure (an Error with a stable code), 2 usage error.
 */
import { Command, CommanderError } from 'commander';
import { isClafusionError } from '../errors.js';
import { VERSION } from '../version.js';
import { inspectCommand } from './inspect.js';
import { evalCommand } from './eval.js';
import { alignCommand } from './align.js';
import { fuseCommand } from './fuse.js';
import { finetuneCommand } from './finetune.js';
import { distillCommand } from './distill.js';
import { compressCommand } from './compress.js';
import { benchCommand } from './bench.js';

function program(): Command {
  const root = new Command('clafusion')
    .description('Fuse trained neural networks stored as ONNX, including networks of different depths (CLAFusion + OTFusion).')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const command of [inspectCommand(), evalCommand(), alignCommand(), fuseCommand(), finetuneCommand(), distillCommand(), compressCommand(), benchCommand()]) {
    root.addCommand(command.exitOverride());
  }
  return root;
}

function reportFailure(err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version also arrive here, with exit code 0.
    return err.exitCode === 0 ? 0 : 2;
  }
  if (isClafusionError(err)) {
    process.stderr.write(`clafusion: error [${err.code}]: ${err.message}\n`);
    return err.code === 'E_ARG' ? 2 : 1;
  }
  process.stderr.write(`clafusion: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}

/** Runs the CLI on `argv` (without `node` and the script) and resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    return reportFailure(err);
  }
}
