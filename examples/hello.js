// @ts-check
/**
 * The smallest gateway application: it answers every request with
 * "Hello world!" as plain text.
 *
 *     gwserver examples/hello:application
 *
 * @module
 */

/** @typedef {import('gwserver').Application} Application */

/** @type {Application} */
export const application = (_environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  // An array body lets the server add Content-Length (12 bytes here).
  return ['Hello world!'];
};
