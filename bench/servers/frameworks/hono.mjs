// @ts-check
/**
 * The frameworks section's Hono 4 app, written and exported as a Hono user
 * does (`export default app`, an object with a `fetch` method): `GET
 * /hello` ("Hello world!") and `GET /json` (`{"hello":"world","n":1}`).
 *
 *     node bench/servers/frameworks/serve.mjs --app bench/servers/frameworks/hono.mjs --port 8000   # @hono/node-server's serve()
 *     node dist/cli/bin.js -b 127.0.0.1:8000 -w 1 bench/servers/frameworks/hono.mjs                 # gwserver, native
 *
 * @module
 */
import { Hono } from 'hono';

const app = new Hono();
app.get('/hello', (c) => c.text('Hello world!'));
app.get('/json', (c) => c.json({ hello: 'world', n: 1 }));

export default app;
