/**
 * A Hono app, exported as Hono users export it. gwserver sees an object
 * with a `fetch` method and serves it natively (the fetch interface), the
 * way @hono/node-server does: `c.env.incoming` is the worker's request, so
 * `getConnInfo` works.
 *
 *     npm install hono @hono/node-server
 *     gwserver -w 4 examples/hono.mjs
 *
 * @module
 */
import { Hono } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';

const app = new Hono();

app.get('/', (c) => c.text('Hello from Hono under gwserver!\n'));
app.get('/json', (c) => c.json({ hello: 'world', ip: getConnInfo(c).remote.address }));

export default app;
