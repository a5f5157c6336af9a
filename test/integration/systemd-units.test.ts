/**
 * The unit files in systemd/ checked by systemd itself.
 *
 * `systemd-analyze verify` prints unknown keys and bad values as warnings and
 * still exits 0, so these tests read its output and fail on any line about
 * our units. The shipped ExecStart program (/srv/app/node_modules/.bin/gwserver)
 * does not exist on a build machine, and verify rejects a missing program:
 * the clean check runs on a temporary copy whose ExecStart program, and
 * nothing else, is replaced by one that exists; a second check runs on the
 * files as shipped and allows exactly that one complaint.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from '../../src/config/settings.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const UNITS = ['gwserver.socket', 'gwserver.service'];
const EXEC_PROGRAM = '/srv/app/node_modules/.bin/gwserver';

interface Run { code: number; output: string[] }

function run(cmd: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, timeout: 60_000, env: { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_COLORS: '0' } }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') return reject(err); // e.g. ENOENT: not installed
      const code = err ? Number((err as { code?: number }).code ?? 1) : 0;
      resolve({ code, output: `${stdout}${stderr}`.split('\n').map((l) => l.trim()).filter((l) => l !== '') });
    });
  });
}

/** Copies the shipped units to a temp dir, optionally editing them. */
async function copyUnits(edit: (name: string, text: string) => string = (_n, t) => t): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gwserver-units-'));
  for (const name of UNITS) {
    await writeFile(path.join(dir, name), edit(name, await readFile(path.join(ROOT, 'systemd', name), 'utf8')));
  }
  return dir;
}

/** `systemd-analyze verify` on the units in `dir`; returns its exit code and the lines that concern our units. */
async function verify(dir: string): Promise<{ code: number; ours: string[]; all: string[] }> {
  const r = await run('systemd-analyze', ['verify', ...UNITS.map((u) => `./${u}`)], dir);
  return { code: r.code, ours: r.output.filter((l) => /gwserver\.(service|socket)/.test(l)), all: r.output };
}

/** The unit's `Key=value` lines by section (later values of a key are appended). */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^\[(.+)\]$/.exec(line);
    if (m) { section = m[1]!; out[section] ??= {}; continue; }
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    ((out[section] ??= {})[key] ??= []).push(line.slice(eq + 1));
  }
  return out;
}

const swapExecStart = (name: string, text: string) => {
  if (name !== 'gwserver.service') return text;
  const lines = text.split('\n').filter((l) => l.startsWith(`ExecStart=${EXEC_PROGRAM} `));
  assert.equal(lines.length, 1, 'one ExecStart line with the shipped program');
  return text.replace(`ExecStart=${EXEC_PROGRAM} `, `ExecStart=${process.execPath} `);
};

describe('systemd unit files (systemd-analyze verify)', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

  it('verify clean: no warning about our units (ExecStart program swapped for one that exists)', async () => {
    const dir = await copyUnits(swapExecStart);
    dirs.push(dir);
    const r = await verify(dir);
    assert.deepEqual(r.ours, [], `systemd-analyze verify complained:\n${r.all.join('\n')}`);
    assert.equal(r.code, 0, r.all.join('\n'));
  });

  it('as shipped, the only complaint is the ExecStart program missing on this machine', async () => {
    const dir = await copyUnits();
    dirs.push(dir);
    const r = await verify(dir);
    assert.deepEqual(r.ours, [`gwserver.service: Command ${EXEC_PROGRAM} is not executable: No such file or directory`], r.all.join('\n'));
  });

  it('would catch an unknown key or a bad value, which verify reports with exit code 0', async () => {
    const dir = await copyUnits((name, text) => {
      const t = swapExecStart(name, text);
      return name === 'gwserver.service'
        ? t.replace('TimeoutStopSec=', 'TimeoutStopSecs=').replace('NotifyAccess=all', 'NotifyAccess=al')
        : t.replace('SocketMode=0660', 'SocketMode=rw');
    });
    dirs.push(dir);
    const r = await verify(dir);
    assert.equal(r.code, 0, 'systemd-analyze exits 0 on these: only its output tells');
    assert.equal(r.ours.length, 3, r.all.join('\n'));
    assert.match(r.ours.join('\n'), /Unknown key 'TimeoutStopSecs'/);
  });

  it('says what docs/systemd.md says: notify, mixed kill, stop timeout above the graceful timeout, no restart loop on config errors', async () => {
    const service = parseUnit(await readFile(path.join(ROOT, 'systemd/gwserver.service'), 'utf8'));
    const socket = parseUnit(await readFile(path.join(ROOT, 'systemd/gwserver.socket'), 'utf8'));
    const s = service.Service!;
    assert.deepEqual(s.Type, ['notify']);
    assert.deepEqual(s.NotifyAccess, ['all']);
    assert.deepEqual(s.ExecReload, ['/bin/kill -HUP $MAINPID']);
    assert.deepEqual(s.KillMode, ['mixed']);
    assert.deepEqual(s.KillSignal, ['SIGTERM']);
    const graceful = SETTINGS.find((x) => x.name === 'gracefulTimeout')!.default as number;
    assert.ok(Number(s.TimeoutStopSec![0]) > graceful, `TimeoutStopSec=${s.TimeoutStopSec} must exceed --graceful-timeout ${graceful}`);
    // Exit codes that restarting cannot fix (EXIT in src/ipc/exit-codes.ts).
    const table = await readFile(path.join(ROOT, 'src/ipc/exit-codes.ts'), 'utf8');
    const code = (name: string) => /\s(\d+),/.exec(table.slice(table.indexOf(`${name}:`)))![1];
    assert.deepEqual(s.RestartPreventExitStatus![0]!.split(/\s+/).sort(), [code('USAGE'), code('APP_LOAD_ERROR')].sort());
    // V8's JIT needs writable+executable memory.
    assert.equal(s.MemoryDenyWriteExecute, undefined);
    assert.deepEqual(service.Unit!.Requires, ['gwserver.socket']);
    const k = socket.Socket!;
    assert.deepEqual(k.Accept, ['no']);
    assert.deepEqual(k.ListenStream, ['127.0.0.1:8000', '/run/gwserver/gwserver.sock']);
    assert.deepEqual(k.SocketMode, ['0660']);
  });

  it('keeps its hardening (systemd-analyze security --offline: exposure below 4.0)', async () => {
    const dir = await copyUnits(swapExecStart);
    dirs.push(dir);
    const r = await run('systemd-analyze', ['security', '--offline=true', '--no-pager', './gwserver.service'], dir);
    const m = /Overall exposure level for gwserver\.service: ([\d.]+)/.exec(r.output.join('\n'));
    assert.ok(m, r.output.slice(-5).join('\n'));
    assert.ok(Number(m[1]) < 4.0, `exposure ${m[1]}`);
  });
});
