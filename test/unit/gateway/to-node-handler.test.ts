/**
 * toNodeHandler inside a node:http server whose framework already set
 * headers before handing over (Express's X-Powered-By, a CORS middleware).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { toNodeHandler } from '../../../src/gateway/handler.js';
import { createLogger } from '../../../src/logging/logger.js';
import type { Application } from '../../../src/gateway/types.js';

describe('toNodeHandler', () => {
  it('merges the app\'s headers with ones the framework set, keeping repeated Set-Cookie', async () => {
    const app: Application = (_environ, startResponse) => {
      startResponse('201 Created', [['Content-Type', 'text/plain'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
      return ['made'];
    };
    const handler = toNodeHandler(app, { logger: createLogger({ level: 'silent' }) });
    const server = http.createServer((req, res) => {
      res.setHeader('X-Powered-By', 'framework');
      handler(req, res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const r = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(r.status, 201);
      assert.equal(r.statusText, 'Created');
      assert.equal(await r.text(), 'made');
      assert.equal(r.headers.get('x-powered-by'), 'framework');
      assert.deepEqual(r.headers.getSetCookie(), ['a=1', 'b=2']);
      assert.equal(r.headers.get('content-length'), '4');
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
