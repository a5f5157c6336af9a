/**
 * A seeded mutation fuzzer over gunicorn's request corpus and random
 * bytes, against a running worker of each interface over HTTP/1.1: no
 * worker exits, no 5xx answers a client's fault, the worker's open-file
 * count comes back, and a valid request is served afterwards.
 *
 * A few seconds by default; GWSERVER_FUZZ_SECONDS=300 for a longer run,
 * GWSERVER_FUZZ_SEED=N to replay one (the seed is printed either way).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { eachInterface, ROOT, startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { RawClient, rawRequest } from '../helpers/raw.js';
import { until } from '../helpers/until.js';

const SECONDS = Number(process.env.GWSERVER_FUZZ_SECONDS ?? 3);
const SEED = Number(process.env.GWSERVER_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const LANES = 8;
const APP = 'test/fixtures/apps/fuzz.mjs';

/** mulberry32: small, seedable, good enough to pick mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function corpus(): Buffer[] {
  const out: Buffer[] = [];
  for (const kind of ['valid', 'invalid']) {
    const dir = path.join(ROOT, 'test/fixtures/requests', kind);
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.http')).sort()) out.push(readFileSync(path.join(dir, f)));
  }
  return out;
}

const TOKENS = ['\r\n', '\n', '\r', ':', ' ', '\t', '\0', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 5\r\n', 'Content-Length: -1\r\n',
  'Content-Length: 99999999999999999999\r\n', 'Host: a b\r\n', 'Expect: 100-continue\r\n', 'Connection: close\r\n', '0\r\n\r\n', 'ffffffff\r\n',
  'GET / HTTP/1.1\r\n', 'CONNECT x:1 HTTP/1.1\r\n', 'HTTP/1.0', 'HTTP/2.0', '%00', '%ff', '/../', '\xff', 'Upgrade: websocket\r\n'];

/** One input: a corpus request mutated a few times, or random bytes. */
function makeInput(rand: () => number, seeds: Buffer[]): Buffer {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  if (rand() < 0.05) return Buffer.from(Array.from({ length: Math.floor(rand() * 512) }, () => Math.floor(rand() * 256)));
  let b = Buffer.from(pick(seeds));
  const n = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rand() * (b.length + 1));
    switch (Math.floor(rand() * 8)) {
      case 0: // flip a bit
        if (b.length > 0) b[at % b.length]! ^= 1 << Math.floor(rand() * 8);
        break;
      case 1: // a random byte in
        b = Buffer.concat([b.subarray(0, at), Buffer.from([Math.floor(rand() * 256)]), b.subarray(at)]);
        break;
      case 2: // a run out
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + Math.floor(rand() * 16))]);
        break;
      case 3: // a token in
        b = Buffer.concat([b.subarray(0, at), Buffer.from(pick(TOKENS), 'latin1'), b.subarray(at)]);
        break;
      case 4: // a slice repeated
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + Math.floor(rand() * 64)), b.subarray(at)]);
        break;
      case 5: // cut
        b = b.subarray(0, at);
        break;
      case 6: // CRLF -> LF everywhere
        b = Buffer.from(b.toString('latin1').replaceAll('\r\n', '\n'), 'latin1');
        break;
      default: // two requests in one (pipelining)
        b = Buffer.concat([b, pick(seeds)]);
    }
  }
  return b;
}

/** Sends the input, half-closes, and collects the status codes of what came back (until close, or 3 s). */
async function throwAt(port: number, input: Buffer): Promise<number[]> {
  const c = new RawClient(port);
  c.end(input);
  await c.waitClosed(3000).catch(() => undefined);
  c.destroy();
  return [...c.text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

const openFiles = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

for (const [kind, target, flags] of eachInterface(APP)) {
  describe(`fuzz, ${kind} interface`, function () {
    this.timeout(60_000 + SECONDS * 1000);
    let srv: Gwserver;
    before(async () => {
      srv = await startGwserver(['-w', '1', ...flags, target]);
    });
    after(async () => { await srv?.stop(); });

    it(`survives ${SECONDS} s of mutated requests (seed ${SEED})`, async () => {
      const worker = srv.workerPids()[0]!;
      const before = openFiles(worker);
      const rand = prng(SEED);
      const seeds = corpus();
      const deadline = Date.now() + SECONDS * 1000;
      let tried = 0;
      const statuses = new Map<number, number>();
      const failures: string[] = [];
      const lane = async () => {
        while (Date.now() < deadline) {
          const input = makeInput(rand, seeds);
          tried++;
          for (const status of await throwAt(srv.port, input)) {
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            if (status >= 500 && failures.length < 5) failures.push(`${status} for ${JSON.stringify(input.toString('latin1').slice(0, 300))}`);
          }
        }
      };
      await Promise.all(Array.from({ length: LANES }, lane));
      console.log(`      fuzz (${kind}): ${tried} inputs in ${SECONDS} s, seed ${SEED}; answers ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))} (replay: GWSERVER_FUZZ_SEED=${SEED})`);
      assert.deepEqual(failures, [], 'no 5xx for a client\'s fault');
      const exits = srv.records().filter((x) => x.level === 'error' || x.level === 'fatal' || /exit/i.test(String(x.msg)));
      assert.deepEqual(srv.workerPids(), [worker], `the worker never exited; the log: ${JSON.stringify(exits).slice(0, 3000)}`);
      await until(() => openFiles(worker) <= before + 5, 15_000, `the worker's open files back to ${before} (now ${openFiles(worker)})`);
      const r = await rawRequest({ port: srv.port }, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), '5');
    });
  });
}
