// Type-checked like api.ts, as a CommonJS module: `import` here compiles to require('clafusion').
import { fuse, type FuseResult } from 'clafusion';

export async function fusedBytes(deep: string, shallow: string): Promise<Uint8Array> {
  const result: FuseResult = await fuse([deep, shallow], { mode: 'weights' });
  return result.bytes;
}
