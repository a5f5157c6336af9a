/**
 * `mustCall(fn, times)`: a function that must be called exactly `times` times
 * (node's test/common `mustCall`; `times` 0 is its `mustNotCall`). The count
 * is checked when the test that made it ends (scope.ts), and a wrong one fails
 * that test.
 */
import { afterTest } from './scope.js';

/** The wrapper; `calls` says how often it ran so far. */
export type MustCall<F> = F & { readonly calls: number };

export function mustCall<A extends unknown[], R>(fn: (...args: A) => R, times?: number): MustCall<(...args: A) => R>;
export function mustCall(): MustCall<() => void>;
export function mustCall(fn: (...args: any[]) => any = () => undefined, times = 1): MustCall<(...args: any[]) => any> {
  // Where mustCall was called, for the failure message.
  const where = new Error().stack?.split('\n')[2]?.trim() ?? '';
  let calls = 0;
  const wrapper = function (this: unknown, ...args: unknown[]) {
    calls++;
    return fn.apply(this, args);
  };
  Object.defineProperty(wrapper, 'calls', { get: () => calls });
  afterTest(() => {
    if (calls !== times) throw new Error(`mustCall: ${fn.name || 'the function'} was called ${calls} time(s), expected ${times} (${where})`);
  });
  return wrapper as MustCall<typeof wrapper>;
}
