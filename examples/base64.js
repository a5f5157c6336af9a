// @ts-check
/**
 * A form that base64-encodes a string, in the style of the classic WSGI
 * teaching app.
 *
 *     gwserver examples/base64:application
 *
 * - `GET /` shows the form; it submits `mystring` to `encode` with GET.
 * - `GET /encode?mystring=...` shows the base64 of the string's UTF-8 bytes,
 *   with a link back to the form.
 * - Anything else is an error page: 400 for a bad request, 404 for an
 *   unknown path.
 *
 * Everything echoed back is HTML-escaped.
 *
 * @module
 */

/** @typedef {import('gwserver').Application} Application */
/** @typedef {import('gwserver').StartResponse} StartResponse */

/** @type {Record<string, string>} */
const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** @param {string} text */
const escape = (text) => text.replace(/[&<>"']/g, (c) => ENTITIES[c]);

/**
 * Starts an HTML response and returns its body.
 * @param {StartResponse} startResponse
 * @param {string} status
 * @param {string} title - plain text; escaped here
 * @param {string} content - HTML
 */
function page(startResponse, status, title, content) {
  startResponse(status, [['Content-Type', 'text/html; charset=utf-8']]);
  return [`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body>
<h1>${escape(title)}</h1>
${content}
</body>
</html>
`];
}

const FORM = `<form action="encode" method="get">
  <label>String to encode: <input type="text" name="mystring"></label>
  <button type="submit">Encode</button>
</form>`;

/** @type {Application} */
export const application = (environ, startResponse) => {
  const method = environ.REQUEST_METHOD;
  // HEAD is GET without the body (the server drops it), so it is allowed too.
  const isGet = method === 'GET' || method === 'HEAD';
  // Links are built on SCRIPT_NAME so the app also works mounted under a prefix.
  const home = escape(`${environ.SCRIPT_NAME}/`);

  switch (environ.PATH_INFO) {
    case '/': {
      if (!isGet) {
        return page(startResponse, '400 Bad Request', 'Bad request',
          `<p>The front page only answers GET, not ${escape(method)}.</p>`);
      }
      if (environ.QUERY_STRING !== '') {
        return page(startResponse, '400 Bad Request', 'Bad request',
          `<p>The front page takes no query string. <a href="${home}">Go to the form</a>.</p>`);
      }
      return page(startResponse, '200 OK', 'Base64 encoder', FORM);
    }
    case '/encode': {
      if (!isGet) {
        return page(startResponse, '400 Bad Request', 'Bad request',
          `<p>/encode only answers GET, not ${escape(method)}.</p>`);
      }
      // URLSearchParams decodes the query as a form does: %XX as UTF-8, "+" as a space.
      const mystring = new URLSearchParams(environ.QUERY_STRING).get('mystring');
      if (!mystring) {
        return page(startResponse, '400 Bad Request', 'Bad request',
          `<p>Missing or empty parameter <code>mystring</code>. <a href="${home}">Go to the form</a>.</p>`);
      }
      const encoded = Buffer.from(mystring, 'utf8').toString('base64');
      return page(startResponse, '200 OK', 'Base64 encoder', `<p>The base64 of <q id="input">${escape(mystring)}</q> is:</p>
<pre id="result">${encoded}</pre>
<p><a href="${home}">Encode another string</a></p>`);
    }
    default:
      return page(startResponse, '404 Not Found', 'Not found',
        `<p>There is nothing at ${escape(environ.PATH_INFO)}. <a href="${home}">Go to the form</a>.</p>`);
  }
};
