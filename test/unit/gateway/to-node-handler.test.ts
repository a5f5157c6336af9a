/**
 * toNodeHandler inside a node:http server whose framework already set
 * headers before handing over (Express's X-Powered-By, a CORS middleware).
 */
import assert from 'node:assert/strict';
import { toNodeHandler } from '../../../src/gateway/handler.js';
import { createLogger } from '../../../src/logging/logger.js';
import type { Application } from '../../../src/gateway/types.js';
import { listen } from '../../helpers/http.js';

describe('toNodeHandler', () => {
  it('merges the app\'s headers with ones the framework set, keeping repeated Set-Cookie', async () => {
    const app: Application = (_environ, startResponse) => {
      startResponse('201 Created', [['Content-Type', 'text/plain'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
      return ['made'];
    };
    const handler = toNodeHandler(app, { logger: createLogger({ level: 'silent' }) });
    const served = await listen((req, res) => {
      res.setHeader('X-Powered-By', 'framework');
      handler(req, res);
    });
    try {
      const r = await fetch(`${served.url}/`);
      assert.equal(r.status, 201);
      assert.equal(r.statusText, 'Created');
      assert.equal(await r.text(), 'made');
      assert.equal(r.headers.get('x-powered-by'), 'framework');
      assert.deepEqual(r.headers.getSetCookie(), ['a=1', 'b=2']);
      assert.equal(r.headers.get('content-length'), '4');
    } finally {
      await served.close();
    }
  });
});
