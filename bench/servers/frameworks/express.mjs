// @ts-check
/**
 * The frameworks section's Express 5 app, written and exported as an
 * Express user does (`export default app`): `GET /hello` ("Hello world!")
 * and `GET /json` (`{"hello":"world","n":1}`), Express's defaults otherwise
 * (ETag, X-Powered-By).
 *
 *     node bench/servers/frameworks/serve.mjs --app bench/servers/frameworks/express.mjs --port 8000   # http.createServer(app).listen
 *     node dist/cli/bin.js -b 127.0.0.1:8000 -w 1 bench/servers/frameworks/express.mjs                 # gwserver, native
 *
 * @module
 */
import express from 'express';

const app = express();
app.get('/hello', (_req, res) => {
  res.type('text/plain').send('Hello world!');
});
app.get('/json', (_req, res) => {
  res.json({ hello: 'world', n: 1 });
});

export default app;
