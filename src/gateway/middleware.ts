/**
 * Composing middleware. A middleware is `(app) => app`; `compose(a, b, c)`
 * gives the middleware that wraps an app as `a(b(c(app)))`, so the first one
 * listed sees the request first, as in most frameworks.
 *
 * @module
 */
import type { Application, Middleware } from './types.js';

/** Combines middleware into one; the first listed is the outermost. */
export function compose(...middleware: Middleware[]): Middleware {
  return (app: Application) => middleware.reduceRight<Application>((inner, mw) => mw(inner), app);
}
