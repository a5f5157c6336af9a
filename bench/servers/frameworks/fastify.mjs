// @ts-check
/**
 * The frameworks section's Fastify 5 app: the Fastify instance, exported as
 * is (`export default app`), with `GET /hello` ("Hello world!") and `GET
 * /json` (`{"hello":"world","n":1}`), Fastify's defaults otherwise (no
 * logger, no response schema).
 *
 *     node bench/servers/frameworks/serve.mjs --app bench/servers/frameworks/fastify.mjs --port 8000   # app.listen()
 *     node dist/cli/bin.js -b 127.0.0.1:8000 -w 1 bench/servers/frameworks/fastify.mjs                 # gwserver, native
 *
 * @module
 */
import Fastify from 'fastify';

const app = Fastify();
app.get('/hello', async () => 'Hello world!');
app.get('/json', async () => ({ hello: 'world', n: 1 }));

export default app;
