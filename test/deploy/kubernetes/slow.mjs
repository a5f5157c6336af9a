// The demo app, plus /slow?ms=N, which answers 200 after N ms: a request
// that is still in flight when the pod is stopped.
import { application as base64 } from '../examples/base64.js';

export function application(environ, startResponse) {
  if (environ.PATH_INFO !== '/slow') return base64(environ, startResponse);
  const ms = Number(new URLSearchParams(environ.QUERY_STRING).get('ms') ?? 1000);
  return new Promise((resolve) => {
    setTimeout(() => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      resolve([Buffer.from(`slept ${ms} ms\n`)]);
    }, ms);
  });
}
