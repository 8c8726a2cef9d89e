/**
 * Streams a file's decoded bytes: gzip files (recognised by the magic bytes 1f 8b, not by the name) are gunzipped on
 * the fly, so a large .gz never has to sit in memory twice.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { dataError, ioError, withFile } from './io.js';

const GZIP_MAGIC = [0x1f, 0x8b];

function isGzip(path: string): Promise<boolean> {
  return withFile(path, async (handle) => {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  });
}

/**
 * Yields the decoded bytes of `path` chunk by chunk. A corrupt or truncated gzip stream becomes `E_DATA` at the
 * decoded offset reached so far.
 */
export async function* decodedChunks(path: string): AsyncGenerator<Buffer> {
  const gzipped = await isGzip(path);
  const file = createReadStream(path);
  const stream = gzipped ? file.pipe(createGunzip()) : file;
  if (gzipped) file.on('error', (err) => stream.destroy(err));
  let offset = 0;
  try {
    for await (const chunk of stream) {
      offset += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code?.startsWith('Z_')) {
      throw dataError(path, offset, `the gzip stream is corrupt or truncated (${(err as Error).message}) after ${offset} decoded bytes`, err);
    }
    throw ioError(path, err);
  } finally {
    file.destroy();
  }
}
