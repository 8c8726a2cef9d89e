/**
 * Learning-rate schedules, stepped once per epoch (as torch's StepLR / MultiStepLR with scheduler.step() after each
 * epoch). For epoch e (0-based) and base rate η₀:
 *
 *   constant     η_e = η₀
 *   step         η_e = η₀ · γ^⌊e / stepSize⌋
 *   multistep    η_e = η₀ · γ^|{m ∈ milestones : m ≤ e}|
 *
 * The published finetuning halves the rate at epochs 20, 40, 60, 80, 100 (`multistep:20,40,60,80,100:0.5`).
 */
import { ClafusionError, requireArg } from '../errors.js';

export type LrSchedule =
  | { kind: 'constant' }
  | { kind: 'step'; stepSize: number; gamma: number }
  | { kind: 'multistep'; milestones: number[]; gamma: number };

export const SCHEDULE_HELP = "constant | step:<every>[:<gamma>] | multistep:<e1,e2,...>[:<gamma>] (gamma defaults to 0.1)";

/** Throws E_ARG unless the schedule is well formed. */
export function checkSchedule(schedule: LrSchedule): LrSchedule {
  switch (schedule.kind) {
    case 'constant':
      return schedule;
    case 'step':
      requireArg(Number.isSafeInteger(schedule.stepSize) && schedule.stepSize > 0, `schedule.stepSize must be a positive integer, got ${schedule.stepSize}`);
      break;
    case 'multistep':
      requireArg(Array.isArray(schedule.milestones) && schedule.milestones.every((m) => Number.isSafeInteger(m) && m > 0),
        `schedule.milestones must be positive integer epochs, got ${JSON.stringify(schedule.milestones)}`);
      break;
    default:
      throw new ClafusionError('E_ARG', `unknown schedule kind ${JSON.stringify((schedule as { kind: unknown }).kind)}; use ${SCHEDULE_HELP}`);
  }
  requireArg(Number.isFinite(schedule.gamma) && schedule.gamma > 0, `schedule.gamma must be a positive number, got ${schedule.gamma}`);
  return schedule;
}

/** The learning rate of epoch `epoch` (0-based). */
export function learningRateAt(schedule: LrSchedule, baseRate: number, epoch: number): number {
  requireArg(typeof schedule === 'object' && schedule !== null, `schedule must be an object; use ${SCHEDULE_HELP}`);
  checkSchedule(schedule);
  requireArg(Number.isFinite(baseRate) && baseRate >= 0, `the base learning rate must be a finite number >= 0, got ${baseRate}`);
  requireArg(Number.isSafeInteger(epoch) && epoch >= 0, `epoch must be an integer >= 0, got ${epoch}`);
  switch (schedule.kind) {
    case 'constant':
      return baseRate;
    case 'step':
      return baseRate * schedule.gamma ** Math.floor(epoch / schedule.stepSize);
    case 'multistep':
      return baseRate * schedule.gamma ** schedule.milestones.filter((m) => m <= epoch).length;
  }
}

/** Parses the CLI form (see SCHEDULE_HELP). */
export function parseSchedule(text: string): LrSchedule {
  const [kind, first, gammaText, ...extra] = text.split(':');
  const bad = (why: string) => new ClafusionError('E_ARG', `schedule '${text}': ${why}; use ${SCHEDULE_HELP}`);
  if (kind === 'constant' && first === undefined) return { kind: 'constant' };
  if ((kind !== 'step' && kind !== 'multistep') || first === undefined || extra.length > 0) throw bad('unknown form');
  const gamma = gammaText === undefined ? 0.1 : Number(gammaText);
  const numbers = first.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
  try {
    return checkSchedule(kind === 'step' ? { kind, stepSize: numbers.length === 1 ? numbers[0]! : NaN, gamma } : { kind, milestones: numbers, gamma });
  } catch (err) {
    throw bad((err as Error).message);
  }
}
