import assert from 'node:assert/strict';
import { serve } from '../../../src/worker/serve.js';
import { compose } from '../../../src/gateway/middleware.js';
import { createLogger } from '../../../src/logging/logger.js';
import type { Application, Middleware } from '../../../src/gateway/types.js';

const tag = (name: string): Middleware => (app) => function tagged(environ, startResponse) {
  return app(environ, (status, headers, excInfo) => startResponse(status, [...headers, ['X-Order', name]], excInfo));
};

describe('serve() and compose()', () => {
  it('serves an app on a free port, composed middleware run outermost first', async () => {
    const app: Application = (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [`${environ.REQUEST_METHOD} ${environ.PATH_INFO}`];
    };
    const running = await serve(compose(tag('outer'), tag('inner'))(app), { bind: '127.0.0.1:0', logger: createLogger({ level: 'silent' }) });
    try {
      assert.match(running.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const r = await fetch(`${running.url}/x`);
      assert.equal(await r.text(), 'GET /x');
      // The inner middleware appends first, so its header comes first.
      assert.equal(r.headers.get('x-order'), 'inner, outer');
    } finally {
      await running.close(1000);
    }
  });
});
