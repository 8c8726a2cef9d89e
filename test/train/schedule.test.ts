import { expect } from 'chai';
import { isClafusionError } from '../../lib/errors.js';
import { learningRateAt, parseSchedule } from '../../lib/train/schedule.js';

describe('train: learning-rate schedules', () => {
  it('parses the CLI forms and steps once per epoch', () => {
    const multistep = parseSchedule('multistep:2,4:0.5');
    expect(multistep).to.deep.equal({ kind: 'multistep', milestones: [2, 4], gamma: 0.5 });
    expect([0, 1, 2, 3, 4, 5].map((e) => learningRateAt(multistep, 0.1, e))).to.deep.equal([0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
    const step = parseSchedule('step:3');
    expect(step).to.deep.equal({ kind: 'step', stepSize: 3, gamma: 0.1 });
    expect(learningRateAt(step, 1, 2)).to.equal(1);
    expect(learningRateAt(step, 1, 3)).to.be.closeTo(0.1, 1e-15);
    expect(learningRateAt(parseSchedule('constant'), 0.3, 99)).to.equal(0.3);
  });

  it('rejects malformed schedules with E_ARG and the accepted forms', () => {
    for (const bad of ['', 'constant:1', 'step', 'step:0', 'step:1,2', 'step:2:-1', 'multistep:a', 'multistep:1,,2', 'cosine:3', 'step:1:0.5:x']) {
      let error: unknown = null;
      try {
        parseSchedule(bad);
      } catch (err) {
        error = err;
      }
      expect(isClafusionError(error, 'E_ARG'), bad).to.equal(true);
      expect((error as Error).message).to.match(/multistep:<e1,e2,...>/);
    }
  });
});
