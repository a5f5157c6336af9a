/**
 * What a test sets up is undone when it ends, whether it passed or not:
 * `afterTest(fn)` queues `fn` to run once the current test and its own
 * afterEach hooks are done (last queued, first run), or at the end of the
 * run when it is called outside a test (in a before() hook). .mocharc
 * requires this file for its root hooks. An `fn` that throws fails the test
 * that queued it (through the hook's error(), which fails that test without
 * stopping the suite, as a throwing hook would).
 */

let inTest = false;
const perTest: Array<() => unknown> = [];
const perRun: Array<() => unknown> = [];

/** Runs `fn` when the current test ends (or the run, outside a test). */
export function afterTest(fn: () => unknown): void {
  (inTest ? perTest : perRun).push(fn);
}

/** Runs and empties `list`, last first; every error, as one. */
async function runAll(list: Array<() => unknown>): Promise<Error | undefined> {
  const errors: unknown[] = [];
  for (const fn of list.splice(0).reverse()) {
    try {
      await fn();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 0) return undefined;
  return errors.length === 1 && errors[0] instanceof Error ? errors[0] : new AggregateError(errors, errors.map(String).join('\n'));
}

export const mochaHooks = {
  beforeEach(): void {
    inTest = true;
  },
  async afterEach(this: Mocha.Context): Promise<void> {
    inTest = false;
    const err = await runAll(perTest);
    if (err) (this.test as Mocha.Hook).error(err);
  },
  async afterAll(): Promise<void> {
    const err = await runAll(perRun);
    if (err) throw err;
  },
};
