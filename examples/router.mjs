/**
 * The base64 form of examples/base64.js, written with the toolkit's router:
 * `route` dispatches on the path (with a path parameter for the JSON API),
 * `byMethod` answers other methods with 405 and `Allow`, and `mount` puts
 * each part under its prefix, moving it to SCRIPT_NAME so that the form's
 * links follow wherever it is mounted.
 *
 *     gwserver examples/router.mjs:application
 *
 * - `GET /` an index of what is here.
 * - `GET /base64/` the form; `GET /base64/encode?mystring=...` its answer
 *   (`/base64` redirects to `/base64/`).
 * - `GET /api/base64/TEXT` the base64 of TEXT as JSON.
 * - Anything else: 404; another method on a known path: 405 with Allow.
 *
 * examples/router.test.mjs tests it in-process with testClient.
 *
 * @module
 */
import { byMethod, mount, route, routeParams } from 'gwserver';

const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escape = (text) => text.replace(/[&<>"']/g, (c) => ENTITIES[c]);

/** An HTML response: `title` is text (escaped here), `content` is HTML. */
function html(startResponse, status, title, content) {
  startResponse(status, [['Content-Type', 'text/html; charset=utf-8']]);
  return [`<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>${escape(title)}</title></head>\n<body>\n<h1>${escape(title)}</h1>\n${content}\n</body>\n</html>\n`];
}

/** The mount point's own URL: SCRIPT_NAME, where route() or mount() put it. */
const here = (environ) => escape(`${environ.SCRIPT_NAME}/`);

// ---- the form, on GET only (byMethod answers the rest with 405)
const base64 = route({
  '/': byMethod({
    GET: (environ, startResponse) => html(startResponse, '200 OK', 'Base64 encoder', `<form action="encode" method="get">
  <label>String to encode: <input type="text" name="mystring"></label>
  <button type="submit">Encode</button>
</form>`),
  }),
  '/encode': byMethod({
    GET: (environ, startResponse) => {
      const mystring = new URLSearchParams(environ.QUERY_STRING).get('mystring');
      if (!mystring) {
        return html(startResponse, '400 Bad Request', 'Bad request',
          `<p>Missing or empty parameter <code>mystring</code>. <a href="${here(environ)}">Go to the form</a>.</p>`);
      }
      return html(startResponse, '200 OK', 'Base64 encoder', `<p>The base64 of <q id="input">${escape(mystring)}</q> is:</p>
<pre id="result">${Buffer.from(mystring, 'utf8').toString('base64')}</pre>
<p><a href="${here(environ)}">Encode another string</a></p>`);
    },
  }),
});

// ---- the same as JSON, the text a path parameter (wsgiorg.routing_args)
const api = route({
  '/base64/:text': {
    GET: (environ, startResponse) => {
      const { text } = routeParams(environ);
      startResponse('200 OK', [['Content-Type', 'application/json']]);
      return [JSON.stringify({ text, base64: Buffer.from(text, 'utf8').toString('base64') })];
    },
  },
});

// ---- everything together
export const application = mount({
  '/base64': base64,
  '/api': api,
  '/': route({
    '/': {
      GET: (environ, startResponse) => html(startResponse, '200 OK', 'Examples', `<ul>
  <li><a href="base64/">the base64 form</a></li>
  <li><a href="api/base64/hello">/api/base64/hello</a> (JSON)</li>
</ul>`),
    },
  }),
});
