/**
 * An Express 5 app, exported as Express users export it. gwserver sees an
 * Express app (a function with `handle` and `use`) and serves it natively:
 * Express gets the worker's own `req` and `res`.
 *
 *     npm install express
 *     gwserver -w 4 examples/express.mjs
 *
 * @module
 */
import express from 'express';

const app = express();
// gwserver passes X-Forwarded-* only from --forwarded-allow-ips (127.0.0.1 by
// default): trusting the proxy here is safe behind gwserver.
app.set('trust proxy', true);

app.get('/', (req, res) => res.send('Hello from Express under gwserver!\n'));
app.get('/json', (req, res) => res.json({ hello: 'world', ip: req.ip }));
app.post('/echo', express.json(), (req, res) => res.json(req.body));

export default app;
