// Type-checked by test/consumer/run.sh (strict `tsc --noEmit`) in a fresh project that installed the packed tarball.
import {
  ClafusionError, emd, fuse, inspectModel, isClafusionError,
  type ErrorCode, type FuseOptions, type FuseResult, type InspectReport,
} from 'clafusion';

const options: FuseOptions = { mode: 'weights', solver: 'emd', signal: AbortSignal.timeout(60_000) };

export async function fusedParameters(deep: string, shallow: string): Promise<number> {
  const result: FuseResult = await fuse([deep, shallow], options);
  const report: InspectReport = inspectModel(result.bytes);
  return report.summary.parameters;
}

export async function transportCost(): Promise<number> {
  const uniform = Float64Array.of(0.5, 0.5);
  const { cost, plan } = await emd(uniform, uniform, Float64Array.of(0, 1, 1, 0));
  return cost + plan[0];
}

export function errorCode(err: unknown): ErrorCode | undefined {
  return isClafusionError(err) ? err.code : undefined;
}

export const refusal: ClafusionError = new ClafusionError('E_ARG', 'refused');
