/**
 * The access line: the JSON fields, gunicorn's text atoms, escaping, and the
 * log as a whole (file, flush at exit, reopen).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExchangeRecord } from '../../../src/gateway/handler.js';
import { accessLineFormatter, clfTime, compileAccessFormat, createAccessLog, DEFAULT_ACCESS_FORMAT, escapeLogValue } from '../../../src/logging/access.js';
import { tempDir } from '../../helpers/temp-dir.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** A record as the handler gives it, for a request that took `ms`. */
function record(over: { url?: string; method?: string; environ?: Record<string, unknown> | null; headers?: Record<string, string>; ms?: number; status?: number; sent?: number; received?: number; completed?: boolean; peer?: string; responseHeaders?: Array<[string, string]> } = {}): ExchangeRecord {
  const url = over.url ?? '/a/b?c=1';
  const q = url.indexOf('?');
  const environ = over.environ === null ? undefined : {
    REQUEST_METHOD: over.method ?? 'GET', PATH_INFO: q < 0 ? url : url.slice(0, q), QUERY_STRING: q < 0 ? '' : url.slice(q + 1),
    SERVER_PROTOCOL: 'HTTP/1.1', REMOTE_ADDR: '203.0.113.9', HTTP_USER_AGENT: 'curl/8', ...over.environ,
  };
  return {
    req: { method: over.method ?? 'GET', url, httpVersion: '1.1', httpVersionMajor: 1, httpVersionMinor: 1, headers: over.headers ?? {}, socket: { remoteAddress: over.peer ?? '127.0.0.1' } },
    requestId: 'rid-1',
    environ,
    loggedStatus: over.status ?? 200,
    headers: over.responseHeaders ?? [['Content-Type', 'text/plain'], ['X-Request-ID', 'rid-1']],
    sent: over.sent ?? 12,
    received: over.received ?? 0,
    startedAt: performance.now() - (over.ms ?? 1.5),
    endedAt: performance.now(),
    completed: over.completed ?? true,
  } as unknown as ExchangeRecord;
}

describe('logging/access: the line of a request', () => {
  describe('JSON', () => {
    const line = accessLineFormatter({ workerId: 3 });

    it('has every field, in one line', () => {
      const text = line(record({ url: '/a/b?c=1&d', received: 7, status: 201 }));
      assert.ok(text.endsWith('}\n') && !text.slice(0, -1).includes('\n'));
      const rec = JSON.parse(text);
      assert.deepEqual(Object.keys(rec), ['level', 'time', 'pid', 'worker_id', 'request_id', 'method', 'path', 'query', 'protocol', 'status', 'bytes', 'request_bytes', 'duration_ms', 'remote_addr', 'user_agent', 'referer', 'completed', 'msg']);
      assert.equal(rec.level, 'info');
      assert.equal(rec.msg, `GET /a/b?c=1&d 201 12 B in ${rec.duration_ms.toFixed(3)} ms`);
      assert.equal(rec.pid, process.pid);
      assert.equal(rec.worker_id, 3);
      assert.equal(rec.request_id, 'rid-1');
      assert.equal(rec.path, '/a/b');
      assert.equal(rec.query, 'c=1&d');
      assert.equal(rec.protocol, 'HTTP/1.1');
      assert.equal(rec.status, 201);
      assert.equal(rec.bytes, 12);
      assert.equal(rec.request_bytes, 7);
      assert.equal(rec.remote_addr, '203.0.113.9', 'the environ\'s address (after proxy trust)');
      assert.equal(rec.user_agent, 'curl/8');
      assert.equal(rec.referer, null);
      assert.equal(rec.completed, true);
      assert.match(rec.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    });

    it('writes the numbers in decimal, as JSON.stringify would', () => {
      for (const n of [0, 7, 9, 10, 99, 100, 65536, 1234567890123, 2 ** 53 - 1]) {
        const rec = JSON.parse(line(record({ sent: n, received: n, status: 499 })));
        assert.deepEqual([rec.bytes, rec.request_bytes, rec.status], [n, n, 499]);
      }
    });

    it('writes duration_ms with three decimals', () => {
      for (let i = 0; i < 50; i++) {
        const m = /"duration_ms":(\d+)\.(\d{3}),/.exec(line(record({ ms: i * 0.137 + 0.0004 })));
        assert.ok(m, 'three decimals');
        const v = Number(`${m[1]}.${m[2]}`);
        assert.ok(v >= i * 0.137 - 0.001 && v < i * 0.137 + 100, `${v}`);
      }
    });

    it('a request refused before its environ: the request line, headers and peer from node', () => {
      const rec = JSON.parse(line(record({ environ: null, url: '/x?y', headers: { 'user-agent': 'u', referer: 'r' }, peer: '::ffff:10.0.0.1', status: 431 })));
      assert.deepEqual([rec.path, rec.query, rec.user_agent, rec.referer, rec.remote_addr, rec.status], ['/x', 'y', 'u', 'r', '10.0.0.1', 431]);
    });

    it('escapes what JSON must; control characters cannot break the line', () => {
      const nasty = 'a"b\\c\n{"forged":1}\r\x1b[31m\u2028é';
      const text = line(record({ environ: { HTTP_USER_AGENT: nasty, HTTP_REFERER: nasty }, url: `/p"\\?q="` }));
      assert.equal(text.indexOf('\n'), text.length - 1);
      const rec = JSON.parse(text);
      assert.equal(rec.user_agent, nasty);
      assert.equal(rec.referer, nasty);
      assert.equal(rec.path, '/p"\\');
      assert.equal(rec.query, 'q="');
    });

    it('has a level and a message for people and pino-pretty: the method, the target, status, bytes, time; a cut response says so', () => {
      const rec = JSON.parse(line(record({ url: '/p"\\?q=\u00e9', method: 'POST', status: 499, sent: 0, completed: false, ms: 2 })));
      assert.equal(rec.level, 'info');
      assert.equal(rec.msg, `POST /p"\\?q=\u00e9 499 0 B in ${rec.duration_ms.toFixed(3)} ms (incomplete)`);
      const refused = JSON.parse(line(record({ environ: null, url: '/x', status: 431, method: 'GET' })));
      assert.match(refused.msg, /^GET \/x 431 12 B in \d+\.\d{3} ms$/);
    });

    it('is pure ASCII (the writer copies byte strings): other characters as \\u escapes, the values intact', () => {
      const ua = 'caf\u00c3\u00a9 \u007f \u2028 \ud83d\ude00 \ud800';
      const text = line(record({ environ: { HTTP_USER_AGENT: ua } }));
      assert.match(text, /^[\x20-\x7e]*\n$/);
      assert.equal(JSON.parse(text).user_agent, ua);
    });

    it('text lines are byte strings too: a non-ASCII literal in the format goes as its UTF-8 bytes', () => {
      const text = compileAccessFormat('\u00e9 %(s)s')(record());
      assert.equal(Buffer.from(text, 'latin1').toString('utf8'), '\u00e9 200\n');
    });
  });

  describe('text: gunicorn\'s atoms', () => {
    it('the default format is the combined log format', () => {
      const text = compileAccessFormat(DEFAULT_ACCESS_FORMAT)(record({ environ: { HTTP_REFERER: 'http://r/', HTTP_AUTHORIZATION: `Basic ${Buffer.from('ann:pw').toString('base64')}` } }));
      assert.match(text, /^203\.0\.113\.9 - ann \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/a\/b\?c=1 HTTP\/1\.1" 200 12 "http:\/\/r\/" "curl\/8"\n$/);
    });

    it('fills every atom', () => {
      const fmt = ['h', 'l', 'u', 'r', 'm', 'U', 'q', 'H', 's', 'B', 'b', 'f', 'a', 'T', 'D', 'L', 'M', 'p'].map((a) => `%(${a})s`).join('|')
        + '|%({x-foo}i)s|%({content-type}i)s|%({Content-Type}o)s|%({set-cookie}o)s|%({REMOTE_ADDR}e)s|%({missing}i)s|%(zz)s|%%|%d';
      const fields = compileAccessFormat(fmt)(record({
        url: '/a/b?c=1', ms: 2500.5, sent: 0, headers: { 'x-foo': 'foo', 'content-type': 'text/html' },
        responseHeaders: [['Content-Type', 'text/plain'], ['Set-Cookie', 'a=1'], ['set-cookie', 'b=2']],
      })).replace(/\n$/, '').split('|');
      assert.deepEqual(fields, [
        '203.0.113.9', '-', '-', 'GET /a/b?c=1 HTTP/1.1', 'GET', '/a/b', 'c=1', 'HTTP/1.1', '200', '0', '-', '-', 'curl/8',
        '2', fields[14], fields[15], fields[16], `<${process.pid}>`,
        'foo', 'text/html', 'text/plain', 'a=1, b=2', '203.0.113.9', '-', '-', '%', '%d',
      ]);
      const [D, L, M] = [Number(fields[14]), fields[15]!, Number(fields[16])];
      assert.ok(D >= 2_500_000 && D < 2_600_000, `D ${D}`);
      assert.match(L, /^2\.5\d{5}$/);
      assert.ok(M >= 2500 && M < 2600, `M ${M}`);
    });

    it('an empty value stays empty, as in gunicorn; an absent one is -', () => {
      assert.equal(compileAccessFormat('[%(q)s] [%(f)s]')(record({ url: '/' })), '[] [-]\n');
    });

    it('escapes like Apache: \\" \\\\ and \\xNN for controls and non-ASCII', () => {
      assert.equal(escapeLogValue('plain text/1.0 (x; y)'), 'plain text/1.0 (x; y)');
      assert.equal(escapeLogValue('a"b\\c'), 'a\\"b\\\\c');
      assert.equal(escapeLogValue('a\nb\rc\td\x1b[0m\x7f\x00'), 'a\\x0ab\\x0dc\\x09d\\x1b[0m\\x7f\\x00');
      assert.equal(escapeLogValue('\xe9\xff'), '\\xe9\\xff', 'latin-1: one escape per byte');
      assert.equal(escapeLogValue('€😀'), '\\xe2\\x82\\xac\\xf0\\x9f\\x98\\x80', 'beyond latin-1: the UTF-8 bytes');
      const line = compileAccessFormat(DEFAULT_ACCESS_FORMAT)(record({ environ: { HTTP_USER_AGENT: 'x"\n127.0.0.1 - - [forged] "GET / HTTP/1.1" 200' } }));
      assert.equal(line.indexOf('\n'), line.length - 1);
      assert.ok(line.includes('"x\\"\\x0a127.0.0.1 - - [forged] \\"GET / HTTP/1.1\\" 200"'));
    });

    it('%(t)s is [dd/Mon/yyyy:HH:MM:SS +zzzz] in local time', () => {
      const t = clfTime(Date.UTC(2026, 10, 21, 18, 0, 0));
      assert.match(t, /^\[\d\d\/[A-Z][a-z]{2}\/2026:\d\d:00:00 [+-]\d{4}\]$/);
      if (new Date().getTimezoneOffset() === 0) assert.equal(t, '[21/Nov/2026:18:00:00 +0000]');
    });
  });

  describe('the log', () => {
    let dir: string;
    beforeEach(() => { dir = tempDir('gw-access-'); });

    it('creates the directory, appends lines, drains; a reopen after a rename goes to a new file', async () => {
      const file = path.join(dir, 'sub', 'access.log');
      const log = createAccessLog({ file, workerId: 1 });
      for (let i = 0; i < 100; i++) log.log(record());
      await log.drain();
      assert.equal(readFileSync(file, 'utf8').split('\n').length, 101);
      renameSync(file, `${file}.1`);
      for (let i = 0; i < 5; i++) log.log(record());
      // Queued before the reopen, written after it: they go to the new file.
      log.reopen();
      for (let i = 0; i < 5; i++) log.log(record());
      await log.drain();
      assert.equal(readFileSync(`${file}.1`, 'utf8').split('\n').length, 101);
      assert.equal(readFileSync(file, 'utf8').split('\n').length, 11);
      log.close();
    });

    it('flush() writes the queued lines synchronously', () => {
      const file = path.join(dir, 'access.log');
      const log = createAccessLog({ file });
      for (let i = 0; i < 10; i++) log.log(record());
      assert.equal(readFileSync(file, 'utf8'), '', 'queued, not written yet');
      log.flush();
      assert.equal(readFileSync(file, 'utf8').split('\n').length, 11);
      log.close();
    });

    it('throws at once when the file cannot be opened', () => {
      assert.throws(() => createAccessLog({ file: path.join(dir) }), /EISDIR/);
    });

    it('a process that exits in the middle of a burst writes every line (flushLogs on exit)', () => {
      const file = path.join(dir, 'access.log');
      const script = `
        import { createAccessLog } from './src/logging/access.ts';
        import { flushLogs } from './src/logging/logger.ts';
        process.on('exit', flushLogs);
        const log = createAccessLog({ file: ${JSON.stringify(file)} });
        const rec = { req: { method: 'GET', url: '/', httpVersionMajor: 1, httpVersionMinor: 1, headers: {}, socket: {} }, requestId: 'r', environ: undefined, loggedStatus: 200, headers: [], sent: 0, received: 0, startedAt: 0, endedAt: 0, completed: true };
        let n = 0;
        const burst = () => { for (let i = 0; i < 500; i++) { log.log(rec); n++; } if (n >= 5000) process.exit(0); setImmediate(burst); };
        burst();
      `;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(readFileSync(file, 'utf8').split('\n').length - 1, 5000);
    });

    it('- writes to stdout (a pipe here): whole lines, none lost', () => {
      const script = `
        import { createAccessLog } from './src/logging/access.ts';
        const log = createAccessLog({ file: '-', workerId: 7 });
        const rec = { req: { method: 'GET', url: '/' + 'x'.repeat(300), httpVersionMajor: 1, httpVersionMinor: 1, headers: {}, socket: {} }, requestId: 'r', environ: undefined, loggedStatus: 200, headers: [], sent: 0, received: 0, startedAt: 0, endedAt: 0, completed: true };
        const long = { ...rec, req: { ...rec.req, url: '/' + 'y'.repeat(5000) } };
        for (let i = 0; i < 3000; i++) log.log(i % 500 === 7 ? long : rec);
        await log.drain();
      `;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      assert.equal(r.status, 0, r.stderr);
      const out = r.stdout.replace(/\n$/, '').split('\n');
      assert.equal(out.length, 3000);
      for (const l of out) assert.equal(JSON.parse(l).worker_id, 7);
      assert.equal(out.filter((l) => l.length > 5000).length, 6, 'the lines longer than a pipe\'s atomic write are whole too');
    });
  });
});
