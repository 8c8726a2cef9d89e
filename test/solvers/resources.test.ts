import { totalmem } from 'node:os';
import { expect } from 'chai';
import { isClafusionError } from '../../lib/errors.js';
import {
  availableMemoryBytes, checkAllocation, formatBytes, MAX_TYPED_ARRAY_LENGTH, MMAP_THRESHOLD_BYTES, mmapThresholdSetting,
  UNCHECKED_BYTES,
} from '../../lib/resources.js';
import {
  centeredGramSync, gemm, gemmSync, gram, gramSync, linearCka, linearCkaSync, pairwiseDistances, pairwiseDistancesSync,
} from '../../lib/solvers/linalg.js';
import { emdSync, sinkhorn, sinkhornSync, uniform } from '../../lib/index.js';
import { native } from '../../lib/native.js';
import { expectCode, expectRejects } from '../support/errors.js';

/** n such that an n x n float64 matrix alone is about `factor` times what the machine has free. */
function sideFor(factor: number, bytesPerElement: number): number {
  return Math.ceil(Math.sqrt((factor * availableMemoryBytes()) / bytesPerElement));
}

describe('resources: memory checks', () => {
  it('availableMemoryBytes is a positive number no larger than the machine', () => {
    const available = availableMemoryBytes();
    expect(available).to.be.a('number').above(0);
    expect(available).to.be.at.most(totalmem());
  });

  it('formats sizes for messages', () => {
    expect(formatBytes(512)).to.equal('512 bytes');
    expect(formatBytes(1536)).to.equal('1.5 KiB');
    expect(formatBytes(3 * 2 ** 30)).to.equal('3.0 GiB');
  });

  it('passes requests that fit and refuses absurd ones with E_ARG', () => {
    checkAllocation(0, 'nothing');
    checkAllocation(UNCHECKED_BYTES - 1, 'small');
    checkAllocation(Math.floor(availableMemoryBytes() / 4), 'a quarter of what is free');
    for (const bytes of [-1, NaN, Infinity, 2 ** 60, '8' as unknown as number]) {
      expectCode(() => checkAllocation(bytes, 'x'), 'E_ARG', /no machine can allocate/);
    }
    expectCode(() => checkAllocation(1024, 'x', MAX_TYPED_ARRAY_LENGTH + 1), 'E_ARG', /typed array holds at most/);
  });

  it('refuses more than is available with E_RESOURCE saying how much was asked and how much there is', () => {
    const asked = 2 * availableMemoryBytes();
    expectCode(() => checkAllocation(asked, 'the test buffer'), 'E_RESOURCE',
      /^the test buffer needs [\d.]+ [KMGTP]iB of memory, but only [\d.]+ [KMGTP]iB is available/);
  });
});

describe('resources: the C heap\'s mmap threshold', () => {
  it('is 1 MiB unless CLAFUSION_MMAP_THRESHOLD or GLIBC_TUNABLES says otherwise', () => {
    expect(mmapThresholdSetting({})).to.equal(MMAP_THRESHOLD_BYTES).and.equal(2 ** 20);
    expect(mmapThresholdSetting({ CLAFUSION_MMAP_THRESHOLD: '0' })).to.equal(0);
    expect(mmapThresholdSetting({ CLAFUSION_MMAP_THRESHOLD: '4194304' })).to.equal(4194304);
    expect(mmapThresholdSetting({ CLAFUSION_MMAP_THRESHOLD: 'glibc' })).to.equal(undefined);
    expect(mmapThresholdSetting({ GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=65536' })).to.equal(undefined);
    expect(mmapThresholdSetting({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' })).to.equal(MMAP_THRESHOLD_BYTES);
  });

  it('refuses a CLAFUSION_MMAP_THRESHOLD that is not whole bytes up to 32 MiB with E_ARG naming it', () => {
    for (const bad of ['', '-1', '1.5', '1e6', 'big', String(32 * 2 ** 20 + 1)]) {
      expectCode(() => mmapThresholdSetting({ CLAFUSION_MMAP_THRESHOLD: bad }), 'E_ARG', /CLAFUSION_MMAP_THRESHOLD/);
    }
  });

  it('the addon sets it on glibc and refuses what glibc would not take with E_ARG', () => {
    const header = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header;
    expect(native().setMmapThreshold(MMAP_THRESHOLD_BYTES)).to.equal(header.glibcVersionRuntime !== undefined);
    for (const bad of [-1, 0.5, 32 * 2 ** 20 + 1, NaN]) expectCode(() => native().setMmapThreshold(bad), 'E_ARG', /0 \.\. 32 MiB/);
  });
});

describe('resources: solvers check their outputs before allocating', () => {
  // The audit's case: an 8 TB (here 4 TB float32) result used to abort the process with a V8 fatal error.
  const ones = new Float32Array(1e6).fill(1);
  const twos = new Float32Array(1e6).fill(2);

  it('pairwiseDistances with a 10^6 x 10^6 result is a coded error, async and sync', async () => {
    expectCode(() => pairwiseDistancesSync(ones, 1e6, twos, 1e6, 1), 'E_ARG', /10{6} x 10{6}.*typed array/);
    await expectRejects(pairwiseDistances(ones, 1e6, twos, 1e6, 1), 'E_ARG');
    await expectRejects(pairwiseDistances(ones, 1e6, twos, 1e6, 1, { device: 'cpu' }), 'E_ARG');
  });

  it('gemm, gram and centeredGram refuse results larger than the machine', async () => {
    const n = sideFor(2, 8);
    const code = n * n > MAX_TYPED_ARRAY_LENGTH ? 'E_ARG' : 'E_RESOURCE';
    const x = new Float32Array(n).fill(1);
    expectCode(() => gramSync(x, n, 1), code);
    expectCode(() => centeredGramSync(x, n, 1), code);
    await expectRejects(gram(x, n, 1), code);
    const side = sideFor(2, 4);
    const row = new Float32Array(side).fill(1);
    const gemmCode = side * side > MAX_TYPED_ARRAY_LENGTH ? 'E_ARG' : 'E_RESOURCE';
    expectCode(() => gemmSync(row, row, side, side, 1), gemmCode);
    await expectRejects(gemm(ones, ones, 1e6, 1e6, 1), 'E_ARG');
  });

  it('linearCka refuses Gram matrices larger than the machine with E_RESOURCE, not E_NATIVE', async () => {
    const n = sideFor(2, 32);
    const x = new Float32Array(n).fill(1);
    expectCode(() => linearCkaSync(x, x, n, 1, 1), 'E_RESOURCE', /linearCka/);
    await expectRejects(linearCka(x, x, n, 1, 1), 'E_RESOURCE');
  });

  it('sinkhorn and emd check their plans (and refuse an unknown device like pairwiseDistances)', async () => {
    const a = uniform(3);
    const M = new Float64Array(9).fill(1);
    expectCode(() => sinkhornSync(a, a, M, 1, { device: 'tpu' as 'cpu' }), 'E_ARG', /device must be one of/);
    expectCode(() => sinkhornSync(a, a, new Float32Array(9), 1, { device: 'tpu' as 'cpu' }), 'E_ARG', /device/);
    await expectRejects(sinkhorn(a, a, M, 1, { device: 'tpu' as 'cpu' }), 'E_ARG');
    expect(emdSync(a, a, M).cost).to.be.closeTo(1, 1e-12);
  });
});

describe('resources: the native layer codes what gets past the checks', () => {
  it('a result longer than a typed array can be is E_ARG, not a V8 abort', async () => {
    const x = new Float32Array(65537).fill(1);
    expectCode(() => native().gramSync(x, 65537, 1, false, 1), 'E_ARG', /longer than a typed array/);
    await expectRejects(native().gram(x, 65537, 1, false, 1), 'E_ARG');
  });

  it('std::bad_alloc in the core is E_RESOURCE, async and sync, with the caller\'s stack', async () => {
    // linearCka's two n x n float64 Grams for n = 2^24 are 2^51 bytes each: more than any address space.
    const n = 2 ** 24;
    const x = new Float32Array(n);
    expectCode(() => native().linearCkaSync(x, x, n, 1, 1, false, 1), 'E_RESOURCE', /out of memory/);
    try {
      await native().linearCka(x, x, n, 1, 1, false, 1);
      expect.fail('expected E_RESOURCE');
    } catch (err) {
      expect(isClafusionError(err, 'E_RESOURCE'), String(err)).to.equal(true);
      expect((err as Error).stack).to.include('resources.test.ts');
    }
  });

  it('a wrong argument type reaching the addon is a ClafusionError E_ARG', () => {
    expectCode(() => native().sgemmSync(false, false, 1, 1, 1, 1, 'A' as unknown as Float32Array, 1,
      new Float32Array(1), 1, 0, null, 1, 1), 'E_ARG', /A must be a typed array/);
  });
});
