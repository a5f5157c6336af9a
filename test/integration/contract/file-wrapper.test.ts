/**
 * `wsgi.file_wrapper` through a real gwserver: a path (Content-Length from
 * the file's size, the file closed afterwards), a FileHandle, a Readable;
 * on GET and HEAD, and when the client goes away. Open files are checked in
 * the server's /proc/PID/fd.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Gwserver } from '../../helpers/gwserver.js';
import { ROOT } from '../../helpers/gwserver.js';
import { request } from '../../helpers/http.js';
import { parseResponse, RawClient, rawExchange } from '../../helpers/raw.js';
import { until } from '../../helpers/until.js';
import { appError, assertAlive, barrier, events, get, serve, token, waitEvent } from './support.js';

const FILE = path.join(ROOT, 'test/fixtures/apps/contract.mjs');
const CONTENT = readFileSync(FILE);

/** What `?big` serves: the node binary, far larger than the socket buffers. */
const BIG = realpathSync(process.execPath);

/** How many descriptors of the server process point at `file`. */
function openCount(server: Gwserver, file: string): number {
  const dir = `/proc/${server.workerPids()[0]}/fd`;
  let n = 0;
  for (const fd of readdirSync(dir)) {
    try {
      if (readlinkSync(`${dir}/${fd}`) === file) n++;
    } catch {
      // Closed while we looked.
    }
  }
  return n;
}

/** Waits until the server holds `file` open no more. */
function closedFile(server: Gwserver, file = FILE): Promise<true> {
  return until(() => openCount(server, file) === 0, 10_000, `${file} to be closed`);
}

describe('contract: wsgi.file_wrapper', function () {
  let server: Gwserver;
  beforeEach(async function () {
    server = await serve('file');
  });

  for (const mode of ['path', 'handle']) {
    it(`${mode}: streams the file with Content-Length from its size, then closes it`, async function () {
      const t = token();
      const res = await request(`${server.url}/?mode=${mode}&block=1000&t=${t}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-length'], String(CONTENT.length));
      assert.equal(res.headers['transfer-encoding'], undefined);
      assert.ok(res.bytes.equals(CONTENT), 'the whole file, byte for byte');
      await waitEvent(server, 'closed', t);
      await closedFile(server);
      await barrier(server);
      assert.deepEqual(events(server, 'close', t).map((r) => r.n), [1]);
    });

    it(`${mode} on HEAD: Content-Length, no body, the file closed`, async function () {
      const t = token();
      const c = await rawExchange(server.port, get(`/?mode=${mode}&t=${t}`, '', 'HEAD') + get('/health', 'Connection: close\r\n'));
      const head = parseResponse(c.data, { head: true });
      assert.equal(head.headers['content-length'], String(CONTENT.length));
      assert.equal(parseResponse(head.rest, { closed: true }).status, 200, 'no body bytes after the head');
      await waitEvent(server, 'closed', t);
      await closedFile(server);
    });

    it(`${mode}: a client that goes away mid-file leaves no open file`, async function () {
      const t = token();
      const c = await RawClient.open(server.port);
      await c.write(get(`/?mode=${mode}&big&t=${t}`));
      await c.waitFor('part of the file', (x) => x.data.length > 256 * 1024);
      assert.equal(openCount(server, BIG), 1, 'the file is open while it is sent');
      c.destroy();
      await waitEvent(server, 'closed', t);
      await closedFile(server, BIG);
      assert.ok(c.data.length < statSync(BIG).size, 'the response was cut short');
      await barrier(server);
      assert.deepEqual(events(server, 'close', t).map((r) => r.n), [1]);
      await assertAlive(server);
    });
  }

  it('a Readable: streamed chunked (its size is unknown), destroyed at the end', async function () {
    const t = token();
    const c = await rawExchange(server.port, get(`/?mode=readable&t=${t}`, 'Connection: close\r\n'));
    const res = parseResponse(c.data, { closed: true });
    assert.equal(res.framing, 'chunked');
    assert.equal(res.body.toString(), 'from a readable');
    await waitEvent(server, 'readable-closed', t);
    await waitEvent(server, 'closed', t);
  });

  it('a Readable on HEAD (never read) is destroyed too', async function () {
    const t = token();
    await rawExchange(server.port, get(`/?mode=readable&t=${t}`, 'Connection: close\r\n', 'HEAD'));
    await waitEvent(server, 'readable-closed', t);
  });

  it('a path that does not exist: a clean 500', async function () {
    const t = token();
    const res = await request(`${server.url}/?mode=missing&t=${t}`);
    assert.equal(res.status, 500);
    assert.equal(res.body.toString(), 'Internal Server Error\n');
    const rec = await appError(server, t);
    assert.match(rec.err.message, /ENOENT/);
    await assertAlive(server);
  });
});
