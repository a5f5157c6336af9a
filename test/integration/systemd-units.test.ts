/**
 * The unit files in systemd/ checked by systemd itself.
 *
 * `systemd-analyze verify` prints unknown keys and bad values as warnings and
 * still exits 0, so these tests read its output and fail on any line about
 * our units. The shipped ExecStart program (/srv/app/node_modules/.bin/gwserver)
 * does not exist on a build machine, and verify rejects a missing program:
 * the clean check runs on a temporary copy whose ExecStart program, and
 * nothing else, is replaced by one that exists; a second check runs on the
 * files as shipped and allows exactly that complaint (once per service).
 * verify checks a template (gwserver@.service) as its instance `i`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from '../../src/config/settings.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const UNITS = ['gwserver.socket', 'gwserver.service', 'gwserver@.socket', 'gwserver@.service'];
const EXEC_PROGRAM = '/srv/app/node_modules/.bin/gwserver';
const TEMPLATE_EXEC_PROGRAM = '/srv/%i/node_modules/.bin/gwserver';

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
  return { code: r.code, ours: r.output.filter((l) => /gwserver(@\w*)?\.(service|socket)/.test(l)), all: r.output };
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
  const program = { 'gwserver.service': EXEC_PROGRAM, 'gwserver@.service': TEMPLATE_EXEC_PROGRAM }[name];
  if (!program) return text;
  const lines = text.split('\n').filter((l) => l.startsWith(`ExecStart=${program} `));
  assert.equal(lines.length, 1, `one ExecStart line with the shipped program in ${name}`);
  return text.replace(`ExecStart=${program} `, `ExecStart=${process.execPath} `);
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
    assert.deepEqual(
      r.ours.sort(),
      [
        `gwserver.service: Command ${EXEC_PROGRAM} is not executable: No such file or directory`,
        `gwserver@i.service: Command ${TEMPLATE_EXEC_PROGRAM.replace('%i', 'i')} is not executable: No such file or directory`,
      ],
      r.all.join('\n'),
    );
  });

  it('would catch an unknown key or a bad value, which verify reports with exit code 0', async () => {
    const dir = await copyUnits((name, text) => {
      const t = swapExecStart(name, text);
      return name === 'gwserver.service'
        ? t.replace('TimeoutStopSec=', 'TimeoutStopSecs=').replace('NotifyAccess=all', 'NotifyAccess=al')
        : name === 'gwserver.socket'
          ? t.replace('SocketMode=0660', 'SocketMode=rw')
          : t;
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

  it('gwserver@.service is gwserver.service with the app, config, sockets and directories of instance %i', async () => {
    const read = async (name: string) => parseUnit(await readFile(path.join(ROOT, 'systemd', name), 'utf8'));
    const [plain, template, plainSocket, templateSocket] = await Promise.all(['gwserver.service', 'gwserver@.service', 'gwserver.socket', 'gwserver@.socket'].map(read));
    const t = template!.Service!;
    assert.deepEqual(t.WorkingDirectory, ['/srv/%i']);
    assert.deepEqual(t.ExecStart, [`${TEMPLATE_EXEC_PROGRAM} -c /etc/gwserver/%i.config.js --control-socket /run/gwserver-%i/control.sock app:application`]);
    // One per instance: a shared RuntimeDirectory= is removed when any instance stops.
    assert.deepEqual(t.RuntimeDirectory, ['gwserver-%i']);
    assert.deepEqual(t.LogsDirectory, ['gwserver/%i']);
    assert.deepEqual(template!.Unit!.Requires, ['gwserver@%i.socket']);
    const perInstance = new Set(['WorkingDirectory', 'ExecStart', 'RuntimeDirectory', 'LogsDirectory']);
    for (const [key, value] of Object.entries(plain!.Service!)) {
      if (!perInstance.has(key)) assert.deepEqual(t[key], value, `gwserver@.service ${key}=`);
    }
    assert.deepEqual(Object.keys(t).sort(), Object.keys(plain!.Service!).sort());
    const k = templateSocket!.Socket!;
    assert.deepEqual(k.ListenStream, ['/run/gwserver/%i.sock']);
    for (const key of ['Accept', 'SocketUser', 'SocketGroup', 'SocketMode', 'DirectoryMode', 'Backlog']) assert.deepEqual(k[key], plainSocket!.Socket![key], `gwserver@.socket ${key}=`);
  });

  it("docs/systemd.md's install commands are the ones test/deploy/systemd.Dockerfile and systemd.test.ts run", async () => {
    const docs = await readFile(path.join(ROOT, 'docs/systemd.md'), 'utf8');
    const ran = (await readFile(path.join(ROOT, 'test/deploy/systemd.Dockerfile'), 'utf8')) + (await readFile(path.join(ROOT, 'test/deploy/systemd.test.ts'), 'utf8'));
    // What the docs say is run another way, or not run (see "Installing").
    const elsewhere = new Set(['systemctl daemon-reload', 'systemctl status gwserver', 'journalctl -u gwserver -f']);
    const commands: string[] = [];
    for (const section of ['## Installing', '## Several apps on one host']) {
      const text = docs.slice(docs.indexOf(section));
      const block = /```sh\n([\s\S]*?)```/.exec(text)![1]!;
      commands.push(...block.split('\n').map((l) => l.split(/\s+#\s/)[0]!.trim()).filter(Boolean));
    }
    assert.ok(commands.length >= 15, commands.join('\n'));
    for (const command of commands) {
      if (elsewhere.has(command)) continue;
      // The code under test, not the registry's; no systemd runs during a build.
      const as = command.replace('npm install gwserver', 'npm install --no-audit --no-fund /tmp/gwserver.tgz').replace('enable --now', 'enable');
      assert.ok(ran.includes(as), `docs/systemd.md's \`${command}\` is not run by test/deploy/systemd.*`);
    }
  });

  it('keeps its hardening (systemd-analyze security --offline: exposure below 4.0, the template too)', async () => {
    const dir = await copyUnits(swapExecStart);
    dirs.push(dir);
    for (const [unit, shown] of [['gwserver.service', 'gwserver.service'], ['gwserver@.service', 'gwserver@i.service']] as const) {
      const r = await run('systemd-analyze', ['security', '--offline=true', '--no-pager', `./${unit}`], dir);
      const m = new RegExp(`Overall exposure level for ${shown.replace('.', '\\.')}: ([\\d.]+)`).exec(r.output.join('\n'));
      assert.ok(m, r.output.slice(-5).join('\n'));
      assert.ok(Number(m[1]) < 4.0, `${unit}: exposure ${m[1]}`);
    }
  });
});
