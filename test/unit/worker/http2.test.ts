/**
 * The HTTP/2 layer's parts that need no process: the preface sniff, and a
 * request made to look as node:http's (in-process, through Node's own
 * HTTP/2 server and client).
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PREFACE, normalizeRequest, sniffPreface } from '../../../src/worker/http2.js';

/** A server whose connections are sniffed; resolves each one's verdict and the bytes that followed. */
async function sniffed(send: (s: net.Socket) => void): Promise<{ h2: boolean; rest: string }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const verdict = new Promise<{ h2: boolean; rest: string }>((resolve) => {
      server.once('connection', (socket) => {
        sniffPreface(socket, (h2) => {
          // The bytes were put back: what a parser reads next starts with them.
          socket.once('data', (d: Buffer) => resolve({ h2, rest: d.toString('latin1') }));
          socket.resume();
        }, 5000);
      });
    });
    const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    send(c);
    const v = await verdict;
    c.destroy();
    return v;
  } finally {
    server.close();
  }
}

describe('sniffPreface', () => {
  it('the preface (even split) goes to HTTP/2 with every byte put back', async () => {
    const v = await sniffed((c) => {
      c.write(PREFACE.subarray(0, 5));
      setTimeout(() => c.write(Buffer.concat([PREFACE.subarray(5), Buffer.from('xyz')])), 30);
    });
    assert.equal(v.h2, true);
    assert.equal(v.rest, `${PREFACE.toString('latin1')}xyz`);
  });

  it('anything else goes to HTTP/1.1 at its first differing byte (POST, PUT too)', async () => {
    for (const req of ['GET / HTTP/1.1\r\n', 'POST / HTTP/1.1\r\n', 'PUT / HTTP/1.1\r\n', 'PRI / HTTP/1.1\r\n']) {
      const v = await sniffed((c) => c.write(req));
      assert.equal(v.h2, false, req);
      assert.equal(v.rest, req);
    }
  });
});

describe('normalizeRequest', () => {
  async function seen(headers: http2.OutgoingHttpHeaders): Promise<{ served: boolean; status: number; req: Record<string, unknown> }> {
    let out: { served: boolean; req: Record<string, unknown> } | undefined;
    const server = http2.createServer((req, res) => {
      const served = normalizeRequest(req as unknown as IncomingMessage, res as unknown as ServerResponse);
      out = { served, req: { method: req.method, url: req.url, headers: { ...req.headers }, rawHeaders: [...req.rawHeaders] } };
      if (served) res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = http2.connect(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const s = client.request(headers);
        s.on('response', (h) => resolve(Number(h[':status'])));
        s.on('error', reject);
        s.resume();
      });
      return { ...out!, status };
    } finally {
      client.close();
      server.close();
    }
  }

  it('no pseudo-header left; Host from :authority, first; method and url as sent', async () => {
    const r = await seen({ ':path': '/a?b=1', ':method': 'POST', 'x-foo': 'bar' });
    assert.equal(r.served, true);
    assert.equal(r.req.method, 'POST');
    assert.equal(r.req.url, '/a?b=1');
    const raw = r.req.rawHeaders as string[];
    assert.equal(raw[0], 'host');
    assert.ok(!raw.some((n, i) => i % 2 === 0 && n.startsWith(':')), raw.join(' '));
    assert.ok(!Object.keys(r.req.headers as object).some((n) => n.startsWith(':')));
    assert.match(String((r.req.headers as Record<string, string>).host), /^127\.0\.0\.1:\d+$/);
  });

  it('a Host that differs from :authority is a 400; one that agrees is kept once', async () => {
    const bad = await seen({ ':path': '/', ':authority': 'a.example', host: 'b.example' });
    assert.deepEqual([bad.served, bad.status], [false, 400]);
    const same = await seen({ ':path': '/', ':authority': 'a.example', host: 'a.example' });
    assert.equal(same.served, true);
    assert.equal((same.req.rawHeaders as string[]).filter((n) => n === 'host').length, 1);
  });
});
