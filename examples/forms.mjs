// @ts-check
/**
 * The greeting form again, with the forms middleware doing the reading:
 * the form is multipart, so it can carry a file too.
 *
 *     gwserver examples/forms.mjs
 *
 * - `GET /` shows a form with a name and an optional file.
 * - `POST /` greets the sender and says what file came (name, type, size);
 *   the file is in a temporary directory while the app runs and removed
 *   after the response.
 * - A POST without a name is a 400; a file over 1 MiB, or a name over 200
 *   bytes, a 413 from the middleware (the app is not called); a body that
 *   is not a form a 415; another method a 405, another path a 404.
 *
 * @module
 */
import { compose, forms } from 'gwserver';

/** @typedef {import('gwserver').Application} Application */
/** @typedef {import('gwserver').StartResponse} StartResponse */
/** @typedef {import('gwserver').HeaderPair} HeaderPair */
/** @typedef {import('gwserver').Form} Form */

/** @type {Record<string, string>} */
const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** @param {string} text */
const escape = (text) => text.replace(/[&<>"']/g, (c) => ENTITIES[c]);

/**
 * Starts an HTML response and returns its body.
 * @param {StartResponse} startResponse
 * @param {string} status
 * @param {string} content - HTML
 * @param {HeaderPair[]} [headers]
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

const FORM = `<form action="./" method="post" enctype="multipart/form-data">
  <label>Your name: <input type="text" name="name"></label>
  <label>A file, if you like: <input type="file" name="file"></label>
  <button type="submit">Greet me</button>
</form>`;

/** @type {Application} */
const greeter = (environ, startResponse) => {
  if (environ.PATH_INFO !== '/') {
    return page(startResponse, '404 Not Found', `<p>There is nothing at ${escape(environ.PATH_INFO)}.</p>`);
  }
  switch (environ.REQUEST_METHOD) {
    case 'GET':
    case 'HEAD':
      return page(startResponse, '200 OK', FORM);
    case 'POST': {
      // Set by the middleware for either form type; absent for any other body.
      const form = /** @type {Form | undefined} */ (environ['gwserver.form']);
      if (form === undefined) {
        return page(startResponse, '415 Unsupported Media Type', '<p>Send the form as multipart/form-data or application/x-www-form-urlencoded.</p>');
      }
      const name = form.fields.get('name')?.trim();
      if (!name) {
        return page(startResponse, '400 Bad Request', `<p>Please give a name: the form field <code>name</code> is missing or empty.</p>
<p><a href="${escape(`${environ.SCRIPT_NAME}/`)}">Back to the form</a></p>`);
      }
      const file = form.file('file');
      const sent = file === undefined
        ? ''
        : `\n<p id="file">You sent ${escape(file.filename)} (${escape(file.mimeType)}, ${file.size} bytes).</p>`;
      return page(startResponse, '200 OK', `<p id="greeting">Hello, ${escape(name)}!</p>${sent}`);
    }
    default:
      return page(startResponse, '405 Method Not Allowed',
        `<p>${escape(environ.REQUEST_METHOD)} is not allowed here; use GET or POST.</p>`,
        [['Allow', 'GET, HEAD, POST']]);
  }
};

export const application = compose(forms({ limits: { fields: 10, fieldNameSize: 100, fieldSize: 200, files: 1, fileSize: 1024 * 1024 } }))(greeter);
