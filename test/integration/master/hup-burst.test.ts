/**
 * A burst of HUPs under load while the app's code changes on disk between
 * them, through a real master and real signals: reloads never overlap (a
 * HUP during a reload asks for one more, after it), so no request fails, the
 * master never runs more than two generations' worth of workers, and the
 * workers end as one generation running the last code written. The same
 * decisions without processes: test/unit/master/arbiter.test.ts.
 */
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startGwserver, type Gwserver } from '../../helpers/gwserver.js';
import { get } from '../../helpers/http.js';
import { runLoad } from '../../helpers/load.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { until } from '../../helpers/until.js';

const WORKERS = 2;
const HUPS = 5;

/** The app answers `VERSION PID`. Written to a temp file and renamed, so that a worker never loads half a file. */
function writeApp(file: string, version: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `export function application(environ, startResponse) {\n  startResponse('200 OK', [['Content-Type', 'text/plain']]);\n  return ['${version} ' + process.pid];\n}\n`);
  renameSync(tmp, file);
}

/** One request on a fresh connection: the body, or undefined when it failed. */
async function body(srv: Gwserver): Promise<string | undefined> {
  const r = await get(srv).catch(() => undefined);
  return r?.status === 200 ? r.body : undefined;
}

describe('master: a burst of HUPs under load while the code changes', function () {
  this.timeout(90_000);
  let dir: string;

  beforeEach(() => {
    dir = tempDir('gw-hup-burst-');
  });

  it(`${HUPS} HUPs, each after a change: zero failed requests, at most ${2 * WORKERS} workers at any moment, one generation on the last code`, async () => {
    const app = path.join(dir, 'app.mjs');
    writeApp(app, 'v0');
    // No NOTIFY_SOCKET: the master's only children are its workers.
    const srv = await startGwserver(['-w', String(WORKERS), `${app}:application`], { env: { NOTIFY_SOCKET: '' } });
    let most = 0;
    const counts: number[] = [];
    const sample = () => {
      const n = srv.workerPids().length;
      counts.push(n);
      most = Math.max(most, n);
    };
    const sampler = setInterval(sample, 5);
    let stop = false;
    let answered = 0;
    const load = runLoad(srv.port, { concurrency: 4, until: () => stop, onOk: () => answered++ });
    try {
      await until(() => srv.workerPids().length === WORKERS && answered >= 20, 10_000, 'the load under way');
      const handled = () => srv.records().filter((r) => r.msg === 'handling SIGHUP').length;
      for (let i = 1; i <= HUPS; i++) {
        writeApp(app, `v${i}`);
        srv.proc.kill('SIGHUP');
        // The master saw this one before the next is sent: the kernel merges a signal still pending.
        await until(() => handled() >= i, 5000, `HUP ${i} handled`);
      }
      const last = `v${HUPS}`;
      // Settled: the master's workers are the last generation, each of them answering with the last code.
      await until(async () => {
        const pids = srv.workerPids();
        if (pids.length !== WORKERS) return false;
        const seen = new Set<number>();
        for (let i = 0; i < 20 && seen.size < WORKERS; i++) {
          const b = await body(srv);
          if (b === undefined || !b.startsWith(`${last} `)) return false;
          seen.add(Number(b.slice(last.length + 1)));
        }
        return seen.size === WORKERS && pids.every((p) => seen.has(p)) && srv.workerPids().length === WORKERS;
      }, 30_000, `both workers serving ${last}`);
      const before = answered;
      await until(() => answered >= before + 20, 10_000, 'the load reaching the last generation');
    } finally {
      stop = true;
      clearInterval(sampler);
    }
    const result = await load;
    await srv.stop();

    assert.equal(result.failed, 0, result.errors.join('; '));
    assert.ok(most <= 2 * WORKERS, `${most} workers at once (samples: ${counts.length})`);
    const msgs = srv.records().map((r) => String(r.msg ?? ''));
    const reloads = msgs.filter((m) => m === 'reloading: booting new workers').length;
    assert.ok(msgs.some((m) => /: the reload will start once it is over$/.test(m)), 'a HUP arrived during a reload');
    assert.ok(reloads >= 2 && reloads < HUPS, `${reloads} reloads for ${HUPS} HUPs`);
    // Never two at once: each reload ended (or was cancelled) before the next began.
    let open = false;
    for (const m of msgs) {
      if (m === 'reloading: booting new workers') {
        assert.equal(open, false, 'a reload began while another was in progress');
        open = true;
      } else if (/^reloaded in \d+ ms$/.test(m) || /could not load the app/.test(m)) {
        open = false;
      }
    }
    console.log(`      ${HUPS} HUPs with code changes under load: ${reloads} reloads, at most ${most} workers at once, ${result.ok} requests, 0 failed`);
  });
});
