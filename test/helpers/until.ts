/**
 * The one polling wait of the tests: `until(condition, deadline)`. Every wait
 * has a deadline; nothing sleeps for a fixed time.
 */
import { setTimeout as sleep } from 'node:timers/promises';

type Falsy = false | 0 | '' | null | undefined;

/**
 * Checks `condition` now and then every `everyMs` (25) until it returns a
 * truthy value (or a promise of one), and resolves with that value. Rejects once
 * `deadline` ms have passed (`timed out waiting for <what>`; a function is
 * called then, so the message can show the state at the deadline), or at
 * once with whatever the condition throws.
 */
export async function until<T>(condition: () => T | Promise<T>, deadline = 10_000, what: string | (() => string) = 'the condition', everyMs = 25): Promise<Exclude<Awaited<T>, Falsy>> {
  const end = Date.now() + deadline;
  for (;;) {
    const value = await condition();
    if (value) return value as Exclude<Awaited<T>, Falsy>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(everyMs);
  }
}
