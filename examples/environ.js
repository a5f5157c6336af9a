// @ts-check
/**
 * Shows what an application receives: the request's environ, as
 * pretty-printed JSON with its keys sorted.
 *
 *     gwserver examples/environ:application
 *     curl 'http://127.0.0.1:8000/foo/bar?baz=bat'
 *
 * Most values are strings. The ones JSON cannot carry (wsgi.input,
 * wsgi.errors, wsgi.file_wrapper, gwserver.signal, gwserver.log) are shown
 * as a short description such as "<function fileWrapper>" or
 * "<AbortSignal>".
 *
 * @module
 */

/** @typedef {import('gwserver').Application} Application */

/**
 * Returns `value` if JSON can show it as it is, else a description of it.
 * @param {unknown} value
 * @returns {unknown}
 */
function showable(value) {
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return value;
  if (Array.isArray(value) && value.every((v) => typeof v === 'number')) return value; // wsgi.version
  if (typeof value === 'function') return `<function ${value.name || 'anonymous'}>`;
  if (typeof value === 'object') {
    const name = value.constructor?.name;
    return name && name !== 'Object' ? `<${name}>` : '<object>';
  }
  return String(value);
}

/** @type {Application} */
export const application = (environ, startResponse) => {
  /** @type {Record<string, unknown>} */
  const shown = {};
  for (const key of Object.keys(environ).sort()) shown[key] = showable(environ[key]);
  startResponse('200 OK', [['Content-Type', 'application/json']]);
  return [JSON.stringify(shown, null, 2) + '\n'];
};
