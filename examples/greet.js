// @ts-check
/**
 * Reads a form posted in the request body and greets the sender.
 *
 *     gwserver examples/greet:application
 *
 * - `GET /` shows a form that POSTs `name` back to `/`.
 * - `POST /` (application/x-www-form-urlencoded) answers "Hello, NAME!".
 * - A POST without a name is a 400, another body type a 415, another
 *   method a 405 (with Allow), another path a 404.
 *
 * The body is read from `environ['wsgi.input']`; reading is async, so the
 * application is an async function.
 *
 * @module
 */

/** @typedef {import('gwserver').Application} Application */
/** @typedef {import('gwserver').StartResponse} StartResponse */
/** @typedef {import('gwserver').HeaderPair} HeaderPair */

/** @type {Record<string, string>} */
const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** @param {string} text */
const escape = (text) => text.replace(/[&<>"']/g, (c) => ENTITIES[c]);

/**
 * Starts an HTML response and returns its body.
 * @param {StartResponse} startResponse
 * @param {string} status
 * @param {string} content - HTML
 * @param {HeaderPair[]} [headers] - extra headers
 */
function page(startResponse, status, content, headers = []) {
  startResponse(status, [['Content-Type', 'text/html; charset=utf-8'], ...headers]);
  return [`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Greeter</title></head>
<body>
${content}
</body>
</html>
`];
}

const FORM = `<form action="./" method="post">
  <label>Your name: <input type="text" name="name"></label>
  <button type="submit">Greet me</button>
</form>`;

/** @type {Application} */
export const application = async (environ, startResponse) => {
  if (environ.PATH_INFO !== '/') {
    return page(startResponse, '404 Not Found', `<p>There is nothing at ${escape(environ.PATH_INFO)}.</p>`);
  }
  switch (environ.REQUEST_METHOD) {
    case 'GET':
    case 'HEAD':
      return page(startResponse, '200 OK', FORM);
    case 'POST': {
      // Refuse before reading: a body the app does not read is never waited for.
      const type = (environ.CONTENT_TYPE ?? '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') {
        return page(startResponse, '415 Unsupported Media Type',
          '<p>Send the form as application/x-www-form-urlencoded.</p>');
      }
      // read() with no size resolves with the whole body as a Buffer.
      const body = await environ['wsgi.input'].read();
      const name = new URLSearchParams(body.toString('utf8')).get('name')?.trim();
      if (!name) {
        return page(startResponse, '400 Bad Request', `<p>Please give a name: the form field <code>name</code> is missing or empty.</p>
<p><a href="${escape(`${environ.SCRIPT_NAME}/`)}">Back to the form</a></p>`);
      }
      return page(startResponse, '200 OK', `<p id="greeting">Hello, ${escape(name)}!</p>`);
    }
    default:
      return page(startResponse, '405 Method Not Allowed',
        `<p>${escape(environ.REQUEST_METHOD)} is not allowed here; use GET or POST.</p>`,
        [['Allow', 'GET, HEAD, POST']]);
  }
};
