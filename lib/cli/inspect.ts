/** `clafusion inspect <model.onnx> [--json]`: prints the report of lib/inspect (a table, or JSON). */
import { Command } from 'commander';
import { formatInspect, inspectModel } from '../inspect/index.js';
import type { CliStreams } from './args.js';

export function inspectCommand(io: CliStreams = { stdout: process.stdout, stderr: process.stderr }): Command {
  return new Command('inspect')
    .description('Show the units, shapes, widths and depth that clafusion recognises in an ONNX model.')
    .argument('<model>', 'ONNX model file')
    .option('--json', 'print the report as JSON on stdout')
    .addHelpText('after', '\nDepth is counted as CLAFusion does: every conv (shortcut convs included) and every hidden dense layer.\nExample: clafusion inspect examples/models/mlp_deep.onnx')
    .action((model: string, flags: { json?: boolean }) => {
      const report = inspectModel(model);
      io.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatInspect(report));
    });
}
