import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { isClafusionError } from '../../lib/errors.js';
import { openCifar, openDataset, openIdx, openNpy, readIdx } from '../../lib/data/index.js';
import { cifarBytes, idxBytes, npyBytes, pseudoRandomBytes, tempDir, writeIdx, writeNpy } from './files.js';

/** Asserts that `promise` rejects with `code` and a message that contains every one of `parts`. */
async function rejectsWith(promise: Promise<unknown>, code: string, ...parts: string[]): Promise<void> {
  try {
    await promise;
  } catch (err) {
    expect(isClafusionError(err), String(err)).to.equal(true);
    expect((err as { code: string }).code, (err as Error).message).to.equal(code);
    for (const part of parts) expect((err as Error).message).to.contain(part);
    return;
  }
  expect.fail(`expected a ${code} rejection`);
}

describe('data readers', () => {
  let dir: string;
  let remove: () => void;
  beforeEach(() => ({ dir, remove } = tempDir()));
  afterEach(() => remove());

  describe('IDX', () => {
    const pixels = pseudoRandomBytes(5 * 3 * 4, 1);
    const labels = Uint8Array.from([3, 1, 4, 1, 5]);

    for (const gzip of [false, true]) {
      it(`round-trips ${gzip ? 'gzipped' : 'raw'} images and labels`, async () => {
        const images = writeIdx(join(dir, 'img'), [5, 3, 4], pixels, gzip);
        const labelFile = writeIdx(join(dir, 'lab'), [5], labels, gzip);
        const read = await readIdx(images);
        expect(read.dims).to.deep.equal([5, 3, 4]);
        expect(Buffer.from(read.data).equals(Buffer.from(pixels))).to.equal(true);
        const dataset = await openIdx(images, labelFile);
        expect(dataset.count).to.equal(5);
        expect(dataset.shape).to.deep.equal([1, 3, 4]);
        expect(Array.from(dataset.labels!)).to.deep.equal([3, 1, 4, 1, 5]);
        const batch = await dataset.take([4, 0]);
        expect(batch.shape).to.deep.equal([2, 1, 3, 4]);
        expect(batch.data[0]).to.equal(Math.fround(pixels[4 * 12]! / 255));
        expect(batch.data[12]).to.equal(Math.fround(pixels[0]! / 255));
        expect(Array.from(batch.labels!)).to.deep.equal([5, 3]);
      });
    }

    it('reads a gzipped file larger than one stream chunk', async () => {
      const big = pseudoRandomBytes(300 * 28 * 28, 9);
      const read = await readIdx(writeIdx(join(dir, 'big.gz'), [300, 28, 28], big, true));
      expect(Buffer.from(read.data).equals(Buffer.from(big))).to.equal(true);
    });

    it('reports a truncated raw file with the offset where the data stops', async () => {
      const bytes = idxBytes([5, 3, 4], pixels).subarray(0, 16 + 50);
      writeFileSync(join(dir, 'cut'), bytes);
      await rejectsWith(readIdx(join(dir, 'cut')), 'E_DATA', join(dir, 'cut'), 'truncated', 'byte offset 66');
    });

    it('reports a truncated gzip stream', async () => {
      const gz = gzipSync(idxBytes([5, 3, 4], pixels));
      writeFileSync(join(dir, 'cut.gz'), gz.subarray(0, gz.length - 12));
      await rejectsWith(readIdx(join(dir, 'cut.gz')), 'E_DATA', join(dir, 'cut.gz'), 'byte offset');
    });

    it('rejects bad magic, element types, trailing bytes and short headers', async () => {
      const good = idxBytes([2, 2], Uint8Array.from([1, 2, 3, 4]));
      const cases: Array<[string, Buffer, string]> = [
        ['magic', Buffer.concat([Buffer.from([1]), good.subarray(1)]), 'byte offset 0'],
        ['type', Buffer.concat([good.subarray(0, 2), Buffer.from([0x0d]), good.subarray(3)]), 'element type 0xd'],
        ['trailing', Buffer.concat([good, Buffer.from([9])]), 'byte offset 16'],
        ['header', good.subarray(0, 7), 'truncated IDX header'],
      ];
      for (const [name, bytes, part] of cases) {
        writeFileSync(join(dir, name), bytes);
        await rejectsWith(readIdx(join(dir, name)), 'E_DATA', part);
      }
    });

    it('rejects labels that do not match the images, and missing files', async () => {
      const images = writeIdx(join(dir, 'img'), [5, 3, 4], pixels);
      const labelFile = writeIdx(join(dir, 'lab'), [4], labels.subarray(0, 4));
      await rejectsWith(openIdx(images, labelFile), 'E_DATA', '5 samples but 4 labels');
      await rejectsWith(openIdx(join(dir, 'nope')), 'E_IO', 'nope');
    });
  });

  describe('CIFAR', () => {
    const images = pseudoRandomBytes(3 * 3072, 2);

    for (const variant of ['cifar10', 'cifar100'] as const) {
      it(`reads ${variant} batches across files`, async () => {
        writeFileSync(join(dir, 'a.bin'), cifarBytes(images.subarray(0, 2 * 3072), [7, 2], variant));
        writeFileSync(join(dir, 'b.bin'), cifarBytes(images.subarray(2 * 3072), [9], variant));
        const dataset = await openCifar([join(dir, 'a.bin'), join(dir, 'b.bin')], variant);
        expect(dataset.count).to.equal(3);
        expect(dataset.shape).to.deep.equal([3, 32, 32]);
        expect(Array.from(dataset.labels!)).to.deep.equal([7, 2, 9]);
        const batch = await dataset.withNormalization({ mean: [0.1, 0.2, 0.3], std: [0.5, 0.25, 2] }).take([2]);
        for (const k of [0, 1024, 2048, 3071]) {
          const c = Math.floor(k / 1024);
          const expected = Math.fround(Math.fround(Math.fround(images[2 * 3072 + k]! / 255) - Math.fround([0.1, 0.2, 0.3][c]!)) / Math.fround([0.5, 0.25, 2][c]!));
          expect(batch.data[k]).to.equal(expected);
        }
      });
    }

    it('reports a truncated batch and out-of-range labels with offsets', async () => {
      const bytes = cifarBytes(images, [1, 2, 3], 'cifar10');
      writeFileSync(join(dir, 'cut.bin'), bytes.subarray(0, 2 * 3073 + 100));
      await rejectsWith(openCifar([join(dir, 'cut.bin')], 'cifar10'), 'E_DATA', 'cut.bin', 'byte offset 6146');
      bytes[3073] = 10;
      writeFileSync(join(dir, 'label.bin'), bytes);
      await rejectsWith(openCifar([join(dir, 'label.bin')], 'cifar10'), 'E_DATA', 'label 10', 'byte offset 3073');
    });
  });

  describe('npy', () => {
    const values = Float32Array.from({ length: 4 * 2 * 3 }, (_, i) => i * 0.5 - 3);

    for (const major of [1, 2, 3]) {
      it(`reads float32 samples and int64 labels from a v${major} file`, async () => {
        const x = writeNpy(join(dir, 'x.npy'), '<f4', [4, 2, 3], values, major);
        const y = writeNpy(join(dir, 'y.npy'), '<i8', [4], BigInt64Array.from([0n, 5n, 2n, 1n]), major);
        const dataset = await openNpy(x, y);
        expect(dataset.shape).to.deep.equal([1, 2, 3]);
        expect(Array.from(dataset.labels!)).to.deep.equal([0, 5, 2, 1]);
        const batch = await dataset.take([3, 1, 2]);
        expect(Array.from(batch.data)).to.deep.equal([...values.subarray(18, 24), ...values.subarray(6, 18)]);
      });
    }

    it('reads uint8 [N, C, H, W] samples with uint8 and int32 labels, normalised per channel', async () => {
      const pixels = pseudoRandomBytes(3 * 2 * 2 * 2, 3);
      const x = writeNpy(join(dir, 'x.npy'), '|u1', [3, 2, 2, 2], pixels);
      for (const [descr, labels] of [['|u1', Uint8Array.from([1, 0, 1])], ['<i4', Int32Array.from([1, 0, 1])]] as const) {
        const y = writeNpy(join(dir, 'y.npy'), descr, [3], labels);
        const dataset = (await openNpy(x, y)).withNormalization({ mean: [0.5, 0.25], std: [0.5, 0.125] });
        expect(Array.from(dataset.labels!)).to.deep.equal([1, 0, 1]);
        const batch = await dataset.take([1]);
        expect(batch.data[0]).to.equal(Math.fround(Math.fround(pixels[8]! / 255) - 0.5) / 0.5);
        expect(batch.data[7]).to.equal(Math.fround(Math.fround(Math.fround(pixels[15]! / 255) - 0.25) / 0.125));
      }
    });

    it('reports truncated data, bad magic, Fortran order and unsupported dtypes', async () => {
      const good = npyBytes('<f4', [4, 2, 3], values);
      writeFileSync(join(dir, 'cut.npy'), good.subarray(0, good.length - 5));
      await rejectsWith(openNpy(join(dir, 'cut.npy')), 'E_DATA', 'cut.npy', 'truncated', `byte offset ${good.length - 5}`);
      writeFileSync(join(dir, 'long.npy'), Buffer.concat([good, Buffer.from([9])])); // refused, as in IDX files
      await rejectsWith(openNpy(join(dir, 'long.npy')), 'E_DATA', 'unexpected bytes after the 24 elements', `byte offset ${good.length}`);
      writeFileSync(join(dir, 'magic.npy'), Buffer.concat([Buffer.from('XX'), good.subarray(2)]));
      await rejectsWith(openNpy(join(dir, 'magic.npy')), 'E_DATA', 'not a .npy file', 'byte offset 0');
      writeFileSync(join(dir, 'f.npy'), Buffer.from(good.toString('latin1').replace("'fortran_order': False", "'fortran_order': True "), 'latin1'));
      await rejectsWith(openNpy(join(dir, 'f.npy')), 'E_DATA', 'Fortran order', 'byte offset 10');
      writeNpy(join(dir, 'f8.npy'), '<f8', [2, 2], new Float64Array(4));
      await rejectsWith(openNpy(join(dir, 'f8.npy')), 'E_DATA', "'<f8' is not supported");
      writeNpy(join(dir, 'y.npy'), '<f4', [4], new Float32Array(4));
      await rejectsWith(openNpy(join(dir, 'f8.npy').replace('f8', 'cut'), join(dir, 'y.npy')), 'E_DATA', 'cut.npy');
      writeFileSync(join(dir, 'x.npy'), good);
      await rejectsWith(openNpy(join(dir, 'x.npy'), join(dir, 'y.npy')), 'E_DATA', 'labels must be integers');
    });
  });

  describe('data specs', () => {
    it('opens a directory with the standard names (test split by default, train on request)', async () => {
      mkdirSync(join(dir, 'fmnist'));
      writeIdx(join(dir, 'fmnist', 't10k-images-idx3-ubyte.gz'), [2, 2, 2], Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]), true);
      writeIdx(join(dir, 'fmnist', 't10k-labels-idx1-ubyte.gz'), [2], Uint8Array.from([8, 9]), true);
      writeIdx(join(dir, 'fmnist', 'train-images-idx3-ubyte'), [3, 2, 2], new Uint8Array(12));
      writeIdx(join(dir, 'fmnist', 'train-labels-idx1-ubyte'), [3], Uint8Array.from([1, 2, 3]));
      const test = await openDataset(join(dir, 'fmnist'));
      expect(Array.from(test.labels!)).to.deep.equal([8, 9]);
      const train = await openDataset(`train:${join(dir, 'fmnist')}`, { limit: 2 });
      expect(Array.from(train.labels!)).to.deep.equal([1, 2]);
      await rejectsWith(openDataset(dir), 'E_IO', 't10k-images-idx3-ubyte');
    });

    it('applies normalisation and limit options and validates them', async () => {
      const images = writeIdx(join(dir, 'img'), [3, 1, 2], Uint8Array.from([0, 255, 51, 102, 153, 204]));
      const dataset = await openDataset(`idx:${images}`, { normalization: { mean: [0.5], std: [0.5] }, limit: 2 });
      expect(dataset.count).to.equal(2);
      expect(dataset.labels).to.equal(null);
      expect(Array.from((await dataset.take([0])).data)).to.deep.equal([-1, 1]);
      await rejectsWith(openDataset(`idx:${images}`, { normalization: { mean: [0, 0], std: [1] } }), 'E_ARG', 'mean needs 1 value (one per channel');
      await rejectsWith(openDataset(`idx:${images}`, { normalization: { mean: [0], std: [0] } }), 'E_ARG', 'std values must be positive');
    });

    it('reports a directory or a missing file where a file is expected as E_IO naming it', async () => {
      for (const kind of ['idx', 'cifar10', 'npy']) {
        await rejectsWith(openDataset(`${kind}:${dir}`), 'E_IO', `cannot read ${dir}`);
        await rejectsWith(openDataset(`${kind}:${join(dir, 'absent')}`), 'E_IO', 'absent');
      }
    });

    it('rejects malformed specs with the accepted forms', async () => {
      await rejectsWith(openDataset('idx:a,b,c'), 'E_ARG', 'cifar10:<batch.bin>');
      await rejectsWith(openDataset('npy:'), 'E_ARG', 'a path is empty');
      await rejectsWith(openDataset(''), 'E_ARG', 'it is empty');
    });

    it('reads batches in order, selection views and partial last batches', async () => {
      const images = writeIdx(join(dir, 'img'), [5, 1, 1], Uint8Array.from([10, 20, 30, 40, 50]));
      const labelFile = writeIdx(join(dir, 'lab'), [5], Uint8Array.from([0, 1, 2, 3, 4]));
      const dataset = (await openIdx(images, labelFile)).select([4, 2, 0, 3]);
      expect(Array.from(dataset.labels!)).to.deep.equal([4, 2, 0, 3]);
      const seen: number[][] = [];
      for await (const batch of dataset.batches(3)) seen.push(Array.from(batch.labels!));
      expect(seen).to.deep.equal([[4, 2, 0], [3]]);
      await rejectsWith(dataset.take([4]), 'E_ARG', 'sample index 4 is out of range [0, 4)');
    });
  });
});
