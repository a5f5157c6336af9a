/**
 * A Fastify 5 instance, exported as is (do not call listen()). gwserver sees
 * a Fastify instance (`routing` and `ready`), awaits `ready()` before the
 * worker accepts, routes each request through it natively, and calls
 * `close()` when the worker stops (your onClose hooks run).
 *
 *     npm install fastify
 *     gwserver -w 4 examples/fastify.mjs
 *
 * @module
 */
import Fastify from 'fastify';

const app = Fastify({ trustProxy: true });

app.get('/', async () => 'Hello from Fastify under gwserver!\n');
app.get('/json', async (req) => ({ hello: 'world', ip: req.ip }));

export default app;
