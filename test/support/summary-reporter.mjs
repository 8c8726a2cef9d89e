// Mocha's spec reporter plus a last line `N passed, N failed` that CI reads.
import Mocha from 'mocha';

const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

export default class SummaryReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const { passes = 0, failures = 0 } = runner.stats ?? {};
      process.stdout.write(`${passes} passed, ${failures} failed\n`);
    });
  }
}
