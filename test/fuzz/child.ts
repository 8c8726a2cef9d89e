/** The fuzz runner's child process: runs each case it is sent and answers with the outcome (test/fuzz/runner.ts). */
import { executeCase } from './execute.js';
import type { FuzzCase } from './cases.js';

process.on('message', (message: { id: number; case: FuzzCase; work: string }) => {
  void executeCase(message.case, message.work).then((outcome) => process.send!({ id: message.id, outcome }));
});
process.send!({ ready: true });
