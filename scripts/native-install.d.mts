// Types of scripts/native-install.mjs for the TypeScript tests (test/install/).
export const X86_64_V3_FLAGS: string[];
export function resolveBin(pkg: string, bin: string, packageRoot: string): string | null;
export function prebuiltDir(packageRoot: string, platform?: string, arch?: string): string;
export type Probe = { path: string; info: unknown; error?: undefined } | { error: string; path?: undefined };
export function probeLoadedAddon(packageRoot: string, env?: NodeJS.ProcessEnv): Probe;
export function isProjectInstall(env: NodeJS.ProcessEnv): boolean;
export function installPlan(env: NodeJS.ProcessEnv, probe: () => Probe, prebuiltPath: string):
  { cpu: 'skip' | 'prebuilt' | 'compile'; cuda: boolean };
export function highestSymbolVersion(file: string, prefix: string): string | null;
export function neededLibraries(file: string): string[] | null;
