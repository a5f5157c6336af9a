// @ts-check
/**
 * The frameworks section's fallback while gwserver cannot serve a module's
 * default export natively (it refuses the module, or does not listen): the
 * same app wrapped as a gateway application with gwserver's adapters,
 * `fromNodeHandler` (Express, a bare handler, Fastify's `routing` after
 * `ready()`) or `fromFetch` (Hono's `fetch`). bench/run.mjs marks the rows
 * it serves "(adapter)".
 *
 *     node dist/cli/bin.js -b 127.0.0.1:8000 -w 1 'bench/servers/frameworks/adapter.mjs:wrap("express")'
 *
 * @module
 */
import { fromFetch, fromNodeHandler } from 'gwserver';

/**
 * The gateway application for bench/servers/frameworks/NAME.mjs.
 * @param {string} name express, hono, fastify or node-handler
 * @returns {Promise<import('gwserver').Application>}
 */
export async function wrap(name) {
  if (!/^[a-z-]+$/.test(name)) throw new Error(`adapter.mjs: bad module name ${name}`);
  const app = (await import(`./${name}.mjs`)).default;
  if (app && typeof app.listen === 'function' && typeof app.ready === 'function' && typeof app.routing === 'function') {
    // Fastify: its whole request handler (hooks, router) is `routing`, once the instance is ready.
    await app.ready();
    return fromNodeHandler(app.routing);
  }
  if (app && typeof app === 'object' && typeof app.fetch === 'function') return fromFetch(app.fetch);
  if (typeof app === 'function') return fromNodeHandler(app);
  throw new Error(`adapter.mjs: ${name}.mjs's default export is neither a Fastify instance, an object with fetch(), nor a function`);
}
