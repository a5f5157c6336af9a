/**
 * The WSGI literature's first server, line for line:
 * `make_server('localhost', 8000, app).serve_forever()`. No gwserver
 * command, no workers: one process, one script, a line per request on
 * stderr in the common log format. Stop it with Ctrl-C.
 *
 *     node examples/wsgiref.mjs
 *     # PORT=0 picks a free port
 *
 * @module
 */
import { makeServer } from 'gwserver';

function application(environ, startResponse) {
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  return [`Hello world! You asked for ${environ.PATH_INFO}\n`];
}

const server = makeServer('localhost', Number(process.env.PORT ?? 8000), application);
await server.ready();
console.log(`Serving on ${server.url} ...`);
await server.serveForever();
