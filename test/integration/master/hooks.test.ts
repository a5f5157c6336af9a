/**
 * Server hooks through a real gwserver: a config file
 * (test/fixtures/configs/hooks.mjs) whose hooks append a JSON line (hook
 * name, the pid it ran in, a summary of its arguments) to a file named by
 * $GW_HOOKS_LOG, one temp file per test. Master hooks must run in the master,
 * worker hooks in the worker, at the moments gunicorn runs them; async hooks
 * are awaited; a hook that throws is logged and survived.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, startGwserver, alive, type Gwserver } from '../../helpers/gwserver.js';
import { get } from '../../helpers/http.js';
import { until } from '../../helpers/until.js';
import { tempDir } from '../../helpers/temp-dir.js';

const CONFIG = 'test/fixtures/configs/hooks.mjs';
const APP = 'test/fixtures/apps/ops.mjs:application';
const STUCK = 'test/fixtures/apps/stuck.mjs:application';

/** One line a hook wrote. */
type Entry = Record<string, any> & { hook: string; pid: number; tag: string };

function entries(file: string): Entry[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Entry);
}

/** Waits until `count` entries match; returns them. */
async function waitEntries(file: string, pred: (e: Entry) => boolean, count = 1, timeoutMs = 15_000): Promise<Entry[]> {
  await until(() => entries(file).filter(pred).length >= count, timeoutMs, () => `${count} hook entries; the hooks wrote:\n${existsSync(file) ? readFileSync(file, 'utf8') : '(nothing)'}`);
  return entries(file).filter(pred);
}

const is = (hook: string) => (e: Entry) => e.hook === hook;

/**
 * The records a hook wrote through `via` (`server.log` or `worker.log`), as
 * the fixture writes them: gunicorn's `server.log.info("%s ...", x)`, with
 * the printf-style arguments formatted.
 */
function said(srv: Gwserver, hook: string, via: 'server.log' | 'worker.log'): Array<Record<string, any>> {
  const found = srv.records().filter((r) => r.from_hook === hook && r.via === via);
  for (const r of found) {
    assert.equal(r.msg, `${hook} hook ran (${via})`);
    assert.equal(r.level, 'info');
  }
  return found;
}

/** Waits for the records of `hook` through `via`: `count` of them, or more. */
async function waitSaid(srv: Gwserver, hook: string, via: 'server.log' | 'worker.log', count = 1): Promise<Array<Record<string, any>>> {
  await until(() => said(srv, hook, via).length >= count, 15_000, () => `${count} records of ${hook} through ${via}`);
  return said(srv, hook, via);
}

describe('master: server hooks (config file)', function () {
  this.timeout(60_000);
  let dir: string;
  let log: string;

  beforeEach(() => {
    dir = tempDir('gw-hooks-');
    log = path.join(dir, 'hooks.jsonl');
  });

  const start = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    startGwserver(['-c', CONFIG, ...args], { env: { GW_HOOKS_LOG: log, ...env } });

  it('boot and requests: each hook in its process, with its arguments, in order; async hooks are awaited', async () => {
    const srv = await start(['-w', '2', APP], { GW_HOOKS_ASYNC_MS: '300' });
    const workers = await srv.waitWorkers(2);
    await waitEntries(log, is('whenReady'));
    const e = entries(log);
    const at = (hook: string) => e.findIndex(is(hook));
    const master = srv.pid;

    const [starting] = e.filter(is('onStarting'));
    assert.equal(starting?.pid, master);
    assert.equal(starting?.numWorkers, 2);
    assert.deepEqual(e.filter(is('nworkersChanged')).map((x) => [x.pid, x.newValue, x.oldValue]), [[master, 2, null]]);
    // onStarting is async: the master waited for it before forking anything.
    assert.ok(at('onStarting:done') >= 0 && at('onStarting:done') < at('preFork'), 'onStarting awaited before the first preFork');

    const preForks = e.filter(is('preFork'));
    const postForks = e.filter(is('postFork'));
    assert.deepEqual(preForks.map((x) => [x.pid, x.id]), [[master, 1], [master, 2]]);
    assert.deepEqual(postForks.map((x) => [x.pid, x.id]), [[master, 1], [master, 2]]);
    assert.deepEqual(postForks.map((x) => x.workerPid).sort(), [...workers].sort());

    // postWorkerInit runs in the worker itself, with that worker; it is async and awaited before the worker listens.
    const inits = e.filter(is('postWorkerInit'));
    assert.equal(inits.length, 2);
    for (const init of inits) {
      assert.notEqual(init.pid, master);
      assert.ok(workers.includes(init.pid), `postWorkerInit in ${init.pid}, workers ${workers}`);
      assert.equal(init.workerPid, init.pid);
      assert.equal(init.id, postForks.find((x) => x.workerPid === init.pid)?.id);
      assert.equal(init.hasLog, true);
    }
    assert.equal(e.filter((x) => x.hook === 'postWorkerInit:done').length, 2);
    const ready = e.find(is('whenReady'))!;
    assert.equal(ready.pid, master);
    assert.ok(e.findIndex((x) => x.hook === 'postWorkerInit:done') < at('whenReady') && e.findLastIndex((x) => x.hook === 'postWorkerInit:done') < at('whenReady'), 'both postWorkerInit awaited before whenReady');
    assert.deepEqual([...ready.workerPids].sort(), [...workers].sort());
    assert.ok(srv.records().findIndex((r) => r.msg === 'listening') >= 0);

    // preRequest and postRequest run in the worker that serves the request, with its environ and the status.
    const ok = await get(srv, '/hello?x=1');
    assert.equal(ok.status, 200);
    const server = Number(ok.body);
    const [pre] = await waitEntries(log, (x) => x.hook === 'preRequest' && x.path === '/hello');
    const [post] = await waitEntries(log, (x) => x.hook === 'postRequest' && x.path === '/hello');
    assert.deepEqual([pre!.pid, pre!.workerPid, pre!.query], [server, server, 'x=1']);
    assert.deepEqual([post!.pid, post!.status], [server, '200 OK']);
    assert.ok(entries(log).indexOf(entries(log).find((x) => x.hook === 'preRequest' && x.path === '/hello')!) < entries(log).findIndex((x) => x.hook === 'postRequest' && x.path === '/hello'));
    const missing = await get(srv, '/missing');
    assert.equal(missing.status, 404);
    const [post404] = await waitEntries(log, (x) => x.hook === 'postRequest' && x.path === '/missing');
    assert.equal(post404!.status, '404 Not Found');
    assert.ok(workers.includes(post404!.pid), `postRequest for /missing in ${post404!.pid}`);
    assert.deepEqual(srv.records().filter((r) => r.hook !== undefined), [], 'no hook failed');

    // server.log and worker.log, as gunicorn's hooks use them: the master's records, or the worker's with its id.
    for (const hook of ['onStarting', 'nworkersChanged', 'preFork', 'postFork', 'whenReady']) {
      const [rec] = await waitSaid(srv, hook, 'server.log');
      assert.equal(rec!.pid, master, `${hook}: server.log writes the master's records`);
      assert.equal(rec!.worker_id, undefined);
    }
    // In the master, about a worker: its id (and its pid once it has one).
    assert.deepEqual(said(srv, 'preFork', 'worker.log').map((r) => [r.pid, r.worker_id, r.worker_pid]), [[master, 1, undefined], [master, 2, undefined]]);
    assert.deepEqual(said(srv, 'postFork', 'worker.log').map((r) => [r.pid, r.worker_id, r.worker_pid]), postForks.map((x) => [master, x.id, x.workerPid]));
    // In a worker: the worker's own records, with its id.
    assert.deepEqual(said(srv, 'postWorkerInit', 'worker.log').map((r) => [r.pid, r.worker_id]).sort(), inits.map((x) => [x.pid, x.id]).sort());
    const [preLog] = (await waitSaid(srv, 'preRequest', 'worker.log')).filter((r) => r.pid === server);
    assert.equal(preLog!.worker_id, pre!.id);
    assert.ok((await waitSaid(srv, 'postRequest', 'worker.log')).some((r) => r.pid === server && r.worker_id === pre!.id));
  });

  it('an async preFork is awaited before its worker is forked (postFork comes after preFork:done)', async () => {
    const srv = await start(['-w', '1', APP], { GW_HOOKS_ASYNC_MS: '300' });
    await waitEntries(log, is('whenReady'));
    await waitEntries(log, is('preFork:done'));
    const e = entries(log);
    assert.ok(
      e.findIndex(is('preFork:done')) < e.findIndex(is('postFork')),
      `order: ${e.map((x) => x.hook).join(', ')}`,
    );
    await srv.stop();
  });

  it('TTIN, TTOU, HUP, kill -9 and TERM: nworkersChanged, workerExit, childExit, onReload, onExit', async () => {
    const srv = await start(['-w', '1', APP], { GW_HOOKS_ASYNC_MS: '200' });
    const [first] = await srv.waitWorkers(1);
    await waitEntries(log, is('whenReady'));
    const master = srv.pid;

    // TTIN: one more worker.
    srv.proc.kill('SIGTTIN');
    const [, second] = await waitEntries(log, is('postWorkerInit'), 2);
    assert.deepEqual(entries(log).filter(is('nworkersChanged')).map((x) => [x.pid, x.newValue, x.oldValue]), [[master, 1, null], [master, 2, 1]]);
    assert.deepEqual(entries(log).filter(is('preFork')).map((x) => x.id), [1, 2]);
    await srv.waitWorkers(2);
    assert.ok(second!.pid !== first && second!.pid !== master);

    // TTOU: the oldest worker is stopped; the master stopped it, so workerExit and childExit.
    srv.proc.kill('SIGTTOU');
    const [scaledDown] = await waitEntries(log, (x) => x.hook === 'workerExit' && x.workerPid === first);
    assert.deepEqual([scaledDown!.pid, scaledDown!.id, scaledDown!.reason, scaledDown!.code], [master, 1, 'scale-down', 0]);
    const [child1] = await waitEntries(log, (x) => x.hook === 'childExit' && x.workerPid === first);
    assert.deepEqual([child1!.pid, child1!.reason], [master, 'scale-down']);
    assert.deepEqual(entries(log).filter(is('nworkersChanged')).map((x) => [x.newValue, x.oldValue]).at(-1), [1, 2]);
    await srv.waitWorkers(1);

    // HUP: onReload in the master, then a new worker; the old one exits with reason reload.
    const beforeHup = entries(log).length;
    srv.proc.kill('SIGHUP');
    const [reload] = await waitEntries(log, is('onReload'));
    assert.equal(reload!.pid, master);
    const [reloaded] = await waitEntries(log, (x) => x.hook === 'workerExit' && x.workerPid === second!.pid);
    assert.deepEqual([reloaded!.reason, reloaded!.code], ['reload', 0]);
    const afterHup = entries(log).slice(beforeHup);
    assert.ok(afterHup.findIndex(is('onReload')) < afterHup.findIndex(is('preFork')), `order after HUP: ${afterHup.map((x) => x.hook).join(', ')}`);
    const [third] = await srv.waitWorkers(1);
    assert.notEqual(third, second!.pid);
    assert.equal(entries(log).filter(is('onReload')).length, 1);

    // kill -9: a death, not a stop: childExit only.
    process.kill(third!, 'SIGKILL');
    const [killed] = await waitEntries(log, (x) => x.hook === 'childExit' && x.workerPid === third);
    assert.deepEqual([killed!.pid, killed!.signal, killed!.reason], [master, 'SIGKILL', 'signal SIGKILL']);
    const [fourth] = await waitEntries(log, (x) => x.hook === 'postWorkerInit' && x.pid !== third && x.pid !== second!.pid && x.pid !== first, 1);
    await until(() => srv.workerPids().includes(fourth!.pid), 10_000, 'replacement');
    assert.equal(entries(log).some((x) => x.hook === 'workerExit' && x.workerPid === third), false, 'no workerExit for a worker that died');

    // TERM: the last worker exits (shutdown), then onExit (async, awaited before the master exits).
    srv.proc.kill('SIGTERM');
    assert.equal((await srv.exited).code, 0);
    const e = entries(log);
    const shutdown = e.filter((x) => x.hook === 'workerExit' && x.workerPid === fourth!.pid);
    assert.deepEqual(shutdown.map((x) => x.reason), ['shutdown']);
    assert.ok(e.some((x) => x.hook === 'childExit' && x.workerPid === fourth!.pid && x.reason === 'shutdown'));
    assert.deepEqual(e.slice(-2).map((x) => [x.hook, x.pid]), [['onExit', master], ['onExit:done', master]]);
    assert.equal(e.some(is('preExec')), false);

    // server.log and worker.log in the master's hooks of this run.
    for (const hook of ['onReload', 'childExit', 'workerExit', 'nworkersChanged', 'onExit']) {
      assert.ok(said(srv, hook, 'server.log').every((r) => r.pid === master && r.worker_id === undefined) && said(srv, hook, 'server.log').length > 0, `${hook} through server.log`);
    }
    assert.deepEqual(said(srv, 'childExit', 'worker.log').map((r) => [r.pid, r.worker_pid]), e.filter(is('childExit')).map((x) => [master, x.workerPid]));
    assert.deepEqual(said(srv, 'workerExit', 'worker.log').map((r) => [r.pid, r.worker_id, r.worker_pid]), e.filter(is('workerExit')).map((x) => [master, x.id, x.workerPid]));
  });

  it('workerInt runs in the worker that receives INT (sent to its pid), and is awaited before it exits', async () => {
    const srv = await start(['-w', '1', APP], { GW_HOOKS_ASYNC_MS: '200' });
    const [victim] = await srv.waitWorkers(1);
    await waitEntries(log, is('whenReady'));
    process.kill(victim!, 'SIGINT');
    const [int] = await waitEntries(log, is('workerInt'));
    assert.deepEqual([int!.pid, int!.workerPid, int!.id], [victim, victim, 1]);
    const [child] = await waitEntries(log, (x) => x.hook === 'childExit' && x.workerPid === victim);
    assert.equal(child!.pid, srv.pid);
    const e = entries(log);
    assert.ok(e.findIndex(is('workerInt:done')) >= 0 && e.findIndex(is('workerInt:done')) < e.indexOf(e.find((x) => x.hook === 'childExit' && x.workerPid === victim)!), 'workerInt awaited before the worker exited');
    assert.equal(e.find(is('workerInt:done'))!.pid, victim);
    assert.deepEqual(said(srv, 'workerInt', 'worker.log').map((r) => [r.pid, r.worker_id]), [[victim, 1]]);
    // The master replaces it.
    await until(() => srv.workerPids().length === 1 && srv.workerPids()[0] !== victim, 10_000, 'replacement');
    assert.equal((await get(srv)).status, 200);
  });

  it('workerTimeout runs in the master with the stuck worker and the stack naming spinForever (--timeout 2)', async () => {
    const srv = await start(['-w', '1', '--timeout', '2', STUCK]);
    const [victim] = await srv.waitWorkers(1);
    const stuck = get(srv, '/spin').then((r) => r.status, () => 'cut');
    const [timeout] = await waitEntries(log, is('workerTimeout'), 1, 15_000);
    assert.equal(timeout!.pid, srv.pid, 'in the master');
    assert.deepEqual([timeout!.id, timeout!.workerPid], [1, victim]);
    assert.match(timeout!.stack, /spinForever/);
    assert.match(timeout!.stack, /stuck\.mjs:\d+/);
    // The hook runs in the master: worker.log writes the master's record about the stuck worker.
    assert.deepEqual(said(srv, 'workerTimeout', 'worker.log').map((r) => [r.pid, r.worker_id, r.worker_pid]), [[srv.pid, 1, victim]]);
    assert.equal(await stuck, 'cut');
    const [child] = await waitEntries(log, (x) => x.hook === 'childExit' && x.workerPid === victim);
    assert.equal(child!.reason, 'timeout');
    await until(() => srv.workerPids().length === 1 && srv.workerPids()[0] !== victim, 10_000, 'replacement');
    assert.equal((await get(srv)).status, 200);
  });

  it('a hook that throws is logged (error record naming the hook) and gwserver serves on', async () => {
    const throwing = ['onStarting', 'whenReady', 'preFork', 'postFork', 'postWorkerInit', 'nworkersChanged', 'preRequest', 'postRequest', 'onReload', 'childExit', 'workerExit', 'onExit'];
    const srv = await start(['-w', '2', APP], { GW_HOOKS_THROW: throwing.join(',') });
    await srv.waitWorkers(2);
    const failed = (hook: string) => (r: Record<string, any>) => r.hook === hook && r.level === 'error' && r.msg === `the ${hook} hook threw`;
    for (const hook of ['onStarting', 'preFork', 'postFork', 'nworkersChanged', 'whenReady']) {
      const rec = await srv.waitForRecord(failed(hook));
      assert.equal(rec.pid, srv.pid, `${hook} failed in the master`);
      assert.match(JSON.stringify(rec.err), new RegExp(`${hook} hook failure \\(test\\)`));
    }
    const inits = srv.records().filter(failed('postWorkerInit'));
    assert.equal(inits.length, 2, 'postWorkerInit failed in both workers, which serve anyway');
    for (const r of inits) assert.ok(typeof r.worker_id === 'number' && r.pid !== srv.pid);

    const res = await get(srv, '/after-throw');
    assert.equal(res.status, 200, 'a request whose preRequest and postRequest throw is served');
    const pre = await srv.waitForRecord(failed('preRequest'));
    await srv.waitForRecord(failed('postRequest'));
    assert.equal(pre.pid, Number(res.body));
    assert.ok(entries(log).some((x) => x.hook === 'preRequest' && x.path === '/after-throw'));

    // HUP: onReload, workerExit and childExit throw; the reload completes and the new workers serve.
    const old = srv.workerPids();
    srv.proc.kill('SIGHUP');
    await srv.waitForRecord(failed('onReload'));
    await srv.waitForRecord((r) => /^reloaded in/.test(r.msg ?? ''));
    await until(() => srv.workerPids().length === 2 && srv.workerPids().every((p) => !old.includes(p)), 15_000, 'old workers replaced');
    await srv.waitForRecord(failed('workerExit'));
    await srv.waitForRecord(failed('childExit'));
    assert.equal((await get(srv)).status, 200);
    // TERM: onExit throws; the master still exits 0.
    srv.proc.kill('SIGTERM');
    assert.equal((await srv.exited).code, 0);
    assert.ok(srv.records().some(failed('onExit')));
    assert.ok(srv.records().some((r) => r.msg === 'master stopped'));
  });

  it('HUP with a config file that became invalid: new workers keep running the hooks of the config in force', async () => {
    const config = path.join(dir, 'hooks.mjs');
    copyFileSync(path.join(ROOT, CONFIG), config);
    const srv = await startGwserver(['-c', config, '-w', '1', APP], { env: { GW_HOOKS_LOG: log } });
    const [first] = await srv.waitWorkers(1);
    await get(srv, '/before');
    await waitEntries(log, (x) => x.hook === 'preRequest' && x.path === '/before');
    // Broken: an unknown setting. The master keeps its configuration (hooks included).
    writeFileSync(config, `${readFileSync(config, 'utf8')}\nexport const bogusSetting = 1;\n`);
    srv.proc.kill('SIGHUP');
    await srv.waitForRecord((r) => /reload: the configuration is invalid/.test(r.msg ?? ''));
    await until(() => srv.workerPids().length === 1 && srv.workerPids()[0] !== first && alive(srv.workerPids()[0]!), 15_000, 'reloaded worker');
    const [fresh] = srv.workerPids();
    await waitEntries(log, (x) => x.hook === 'onReload' && x.tag === 'original');
    assert.equal((await get(srv, '/after')).status, 200);
    // postRequest runs once the response is over: give it a moment (a deadline, not an assertion on time).
    await until(() => entries(log).some((x) => x.hook === 'postRequest' && x.path === '/after'), 5000, 'postRequest').catch(() => undefined);
    const pre = entries(log).find((x) => x.hook === 'preRequest' && x.path === '/after');
    assert.ok(pre, `the new worker ${fresh} ran no preRequest hook; its log: ${JSON.stringify(srv.records().filter((r) => r.pid === fresh))}`);
    assert.equal(pre.pid, fresh);
    assert.ok(entries(log).some((x) => x.hook === 'postWorkerInit' && x.pid === fresh), 'postWorkerInit ran in the new worker');
  });

  it('a worker booted without a HUP (replacing a dead one) runs the hooks in force, not an edited config file', async () => {
    const config = path.join(dir, 'hooks.mjs');
    copyFileSync(path.join(ROOT, CONFIG), config);
    const srv = await startGwserver(['-c', config, '-w', '1', APP], { env: { GW_HOOKS_LOG: log } });
    const [first] = await srv.waitWorkers(1);
    // Edited on disk, not reloaded (no HUP): nothing should change until one.
    writeFileSync(config, readFileSync(config, 'utf8').replace("const CONFIG_TAG = 'original'", "const CONFIG_TAG = 'edited'"));
    process.kill(first!, 'SIGKILL');
    await until(() => srv.workerPids().length === 1 && srv.workerPids()[0] !== first, 10_000, 'replacement');
    const [replacement] = srv.workerPids();
    const [init] = await waitEntries(log, (x) => x.hook === 'postWorkerInit' && x.pid === replacement);
    assert.equal(init!.tag, 'original', 'the replacement worker runs the hooks of the configuration in force');
  });
});
