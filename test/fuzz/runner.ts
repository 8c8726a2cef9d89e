/**
 * Runs fuzz cases in a child process, one at a time, each in a fresh folder and under a time limit, so that a case
 * that crashes the process (abort, fatal V8 error, segfault) or hangs (a blocking open, an endless loop) is seen
 * and named instead of taking the run down. The child is restarted after either.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FuzzCase } from './cases.js';
import type { Outcome } from './execute.js';

export type RunOutcome = Outcome | { kind: 'crash' | 'hang'; detail: string };

/** Failure kinds: any of these fails a fuzz run and is saved as a reproducer. */
export const FAILURES: ReadonlySet<RunOutcome['kind']> = new Set(['uncoded', 'leftover', 'crash', 'hang']);

interface Pending {
  id: number;
  resolve: (outcome: RunOutcome) => void;
  timer: NodeJS.Timeout;
}

export class CaseRunner {
  private child: ChildProcess | undefined;
  private ready: Promise<void> | undefined;
  private pending: Pending | undefined;
  private stderr = '';
  private nextId = 0;

  constructor(private readonly timeoutMs: number) {}

  private start(): Promise<void> {
    this.stderr = '';
    const child = fork(join(import.meta.dirname, 'child.ts'), [], {
      execArgv: ['--import', 'tsx'], serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    child.stderr!.on('data', (chunk: Buffer) => { this.stderr = (this.stderr + chunk.toString()).slice(-2000); });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      const detail = `the process exited (code ${code}, signal ${signal}): ${this.stderr.trim().slice(-600)}`;
      this.settle({ kind: 'crash', detail });
    });
    child.on('message', (message: { ready?: boolean; id?: number; outcome?: Outcome }) => {
      if (message.id !== undefined && message.id === this.pending?.id) this.settle(message.outcome!);
    });
    this.child = child;
    return new Promise((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code, signal) => {
        const why = `code ${code}, signal ${signal}`;
        reject(new Error(`the fuzz child did not start (${why}): ${this.stderr.trim().slice(-600)}`));
      });
    });
  }

  private settle(outcome: RunOutcome): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    pending.resolve(outcome);
  }

  /** Runs one case; a crash or a hang is an outcome, not an exception. */
  async run(c: FuzzCase): Promise<RunOutcome> {
    if (!this.child) this.ready = this.start();
    await this.ready;
    const work = mkdtempSync(join(tmpdir(), 'clafusion-fuzz-'));
    const id = this.nextId++;
    try {
      return await new Promise<RunOutcome>((resolve) => {
        const timer = setTimeout(() => {
          this.settle({ kind: 'hang', detail: `no answer within ${this.timeoutMs} ms` });
          this.child?.kill('SIGKILL');
          this.child = undefined;
        }, this.timeoutMs);
        this.pending = { id, resolve, timer };
        this.child!.send({ id, case: c, work });
      });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  close(): void {
    const child = this.child;
    this.child = undefined;
    child?.kill();
  }
}
