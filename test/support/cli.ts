import type { Command } from 'commander';
import type { CliStreams } from '../../lib/cli/args.js';

/**
 * Runs the subcommand that `factory` builds, with captured output streams; resolves to what it wrote, or the error
 * it threw.
 */
export async function runCommand(factory: (io: CliStreams) => Command, args: string[]): Promise<{ stdout: string; stderr: string; error: unknown }> {
  let stdout = '';
  let stderr = '';
  const io: CliStreams = { stdout: { write: (s: string) => ((stdout += s), true) }, stderr: { write: (s: string) => ((stderr += s), true), isTTY: false } };
  const command = factory(io)
    .exitOverride()
    .configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
  const error = await command.parseAsync(args, { from: 'user' }).then(() => null, (e: unknown) => e);
  return { stdout, stderr, error };
}
