// @ts-check
/**
 * A login: a form that starts a session for the browser, and HTTP Basic for
 * scripts, both checking the same users.
 *
 *     SESSION_SECRET=$(openssl rand -base64 32) gwserver -w 2 examples/login.mjs
 *
 * - `GET /` shows who is logged in (with a logout button), or the login form.
 * - `POST /login` (name, password) starts a session and redirects to `/`
 *   (303); wrong credentials get 401 and the form again.
 * - `POST /logout` ends the session and redirects to `/`.
 * - `GET /api/whoami` answers `{"user": NAME}` to a client that sends Basic
 *   credentials (`curl -u ada:lovelace ...`), 401 with a challenge otherwise.
 *
 * The session is a signed cookie (HttpOnly, SameSite=Lax, Secure under
 * https), so any worker reads it. Without SESSION_SECRET a fixed development
 * secret is used and a warning printed: anybody who reads this file could
 * forge sessions with it. The demo users are below; a real app asks its
 * database, with passwords hashed (crypto.scrypt).
 *
 * @module
 */
import { basicAuth, compose, forms, sessions, shiftPathInfo, verifyUsers } from 'gwserver';

/** @typedef {import('gwserver').Application} Application */
/** @typedef {import('gwserver').StartResponse} StartResponse */
/** @typedef {import('gwserver').HeaderPair} HeaderPair */
/** @typedef {import('gwserver').Form} Form */
/** @typedef {import('gwserver').Session} Session */

const USERS = { ada: 'lovelace', grace: 'hopper' };
const verify = verifyUsers(USERS);

const DEV_SECRET = 'development only: never use this secret in production';
const secret = process.env.SESSION_SECRET || DEV_SECRET;
if (secret === DEV_SECRET) console.warn('examples/login: SESSION_SECRET is not set; using the development secret');

/** @type {Record<string, string>} */
const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** @param {string} text */
const escape = (text) => text.replace(/[&<>"']/g, (c) => ENTITIES[c]);

/**
 * @param {StartResponse} startResponse
 * @param {string} status
 * @param {string} content - HTML
 * @param {HeaderPair[]} [headers]
 */
function page(startResponse, status, content, headers = []) {
  startResponse(status, [['Content-Type', 'text/html; charset=utf-8'], ['Cache-Control', 'no-store'], ...headers]);
  return [`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Login</title></head>
<body>
${content}
</body>
</html>
`];
}

/**
 * A 303 to the app's front page (after a POST, so that reloading does not post again).
 * @type {Application}
 */
const home = (environ, startResponse) => {
  startResponse('303 See Other', [['Location', `${environ.SCRIPT_NAME}/`], ['Content-Type', 'text/plain; charset=utf-8']]);
  return ['See /\n'];
};

const FORM = `<form action="login" method="post">
  <label>Name: <input type="text" name="name" autocomplete="username"></label>
  <label>Password: <input type="password" name="password" autocomplete="current-password"></label>
  <button type="submit">Log in</button>
</form>`;

/** The browser side: form, session cookie. @type {Application} */
const site = async (environ, startResponse) => {
  const session = /** @type {Session} */ (environ['gwserver.session']);
  const route = `${environ.REQUEST_METHOD} ${environ.PATH_INFO}`;
  switch (route) {
    case 'GET /':
    case 'HEAD /': {
      const user = session.get('user');
      if (typeof user !== 'string') return page(startResponse, '200 OK', FORM);
      return page(startResponse, '200 OK', `<p id="user">Logged in as ${escape(user)}.</p>
<form action="logout" method="post"><button type="submit">Log out</button></form>`);
    }
    case 'POST /login': {
      const form = /** @type {Form | undefined} */ (environ['gwserver.form']);
      const name = form?.fields.get('name') ?? '';
      const password = form?.fields.get('password') ?? '';
      if (!(await verify(name, password, environ))) {
        return page(startResponse, '401 Unauthorized', `<p id="error">Wrong name or password.</p>\n${FORM}`);
      }
      // A new session id at login: one planted before it is worth nothing after.
      session.regenerate();
      session.set('user', name);
      return home(environ, startResponse);
    }
    case 'POST /logout':
      session.destroy();
      return home(environ, startResponse);
    default:
      return page(startResponse, '404 Not Found', `<p>There is nothing at ${escape(environ.PATH_INFO)}.</p>`);
  }
};

/** The script side: HTTP Basic, no cookie. @type {Application} */
const api = basicAuth({ realm: 'login example', verify })((environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'application/json']]);
  return [JSON.stringify({ user: environ.REMOTE_USER })];
});

const browser = compose(
  sessions({ secret, maxAge: 8 * 3600 }),
  forms({ limits: { fields: 10, fieldSize: 1024, files: 0 } }),
)(site);

/** @type {Application} */
export const application = (environ, startResponse) => {
  if (environ.PATH_INFO.startsWith('/api/')) {
    shiftPathInfo(environ);
    return api(environ, startResponse);
  }
  return browser(environ, startResponse);
};
