/**
 * podman for the deployment tests: the settings these machines need
 * (test/deploy/containers.conf), the local base image (test/deploy/base.sh),
 * image builds with the machine's CA bundle for npm, and containers that are
 * removed when the test file ends, even when it fails.
 *
 * A test file calls {@link requirePodman} in its `before` hook: it skips the
 * file with a one-line reason where the machine lacks podman, debootstrap or
 * root (`.ci/run` installs them, so CI never skips).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/gwserver.js';

export const DEPLOY = path.join(ROOT, 'test/deploy');
export const PODMAN_ENV: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_CONF: path.join(DEPLOY, 'containers.conf') };
/** The machine's CA bundle, mounted into builds so that npm reaches its registry through this network. */
export const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
/**
 * npm's global config inside builds (Debian's npm reads /etc/npmrc), naming
 * that bundle: mounted for the build only, so nothing of it lands in an
 * image and the Dockerfile stays the one users build.
 */
export const NPMRC = path.join(DEPLOY, 'npmrc');

/** Why the deployment tests cannot run here, or undefined when they can. */
export function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (podman builds and systemd containers)';
  for (const cmd of ['podman', 'debootstrap']) {
    const r = spawnSync('sh', ['-c', `command -v ${cmd} || test -x /usr/sbin/${cmd}`]);
    if (r.status !== 0) return `needs ${cmd} (apt-get install podman debootstrap)`;
  }
  return undefined;
}

/** Skips the calling suite (from its `before` hook) with a one-line reason where the machine lacks what it needs. */
export function requirePodman(ctx: Mocha.Context): void {
  const why = missing();
  if (why) {
    console.log(`      skipped: ${why}`);
    ctx.skip();
  }
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `podman ARGS` to its exit (killed after `timeoutMs`); never rejects, so the caller asserts on the code with the output in hand. */
export function podman(args: string[], opts: { timeoutMs?: number; input?: string; cwd?: string } = {}): Promise<Ran> {
  return run('podman', args, opts);
}

/** Runs a command to its exit with the podman environment; killed by pid after `timeoutMs`. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: { ...PODMAN_ENV, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${opts.timeoutMs} ms)`;
      p.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Throws with the command's output unless it exited 0; returns its stdout. */
export async function ok(r: Ran | Promise<Ran>, what: string): Promise<string> {
  const ran = await r;
  if (ran.code !== 0) throw new Error(`${what} exited ${ran.code}:\n${ran.stderr.slice(-4000)}\n${ran.stdout.slice(-2000)}`);
  return ran.stdout;
}

let base: Promise<string> | undefined;
/** The local base image's name (`localhost/gwserver-base:KEY`), built by test/deploy/base.sh on the first call on this machine (a few minutes), reused after. */
export function baseImage(): Promise<string> {
  base ??= ok(run(path.join(DEPLOY, 'base.sh'), [], { timeoutMs: 15 * 60_000 }), 'test/deploy/base.sh').then((out) => out.trim().split('\n').pop()!);
  return base;
}

/**
 * The flags every image build of these tests takes: docker format (the OCI
 * format drops HEALTHCHECK), host network, and the CA bundle for npm, mounted
 * for the build only. podman-compose passes them on as one string.
 */
export function buildFlags(): string[] {
  const flags = ['--format', 'docker', '--network', 'host'];
  if (existsSync(CA_BUNDLE)) flags.push('-v', `${CA_BUNDLE}:${CA_BUNDLE}:ro`, '-v', `${NPMRC}:/etc/npmrc:ro`);
  return flags;
}

/** The host port published for a container's `port` (`-p 127.0.0.1::PORT`). */
export async function publishedPort(name: string, port: number): Promise<number> {
  const out = await ok(podman(['port', name, String(port)]), `podman port ${name} ${port}`);
  return Number(/:(\d+)\s*$/.exec(out.trim())?.[1]);
}

/**
 * `podman build` of `dockerfile` in `context`: FROM the local base (the
 * `NODE_IMAGE` build argument), docker format (the OCI format drops
 * HEALTHCHECK), host network, and the CA bundle for npm. Resolves with the
 * image's id: run that rather than the tag, which a parallel run may move.
 */
export async function buildImage(tag: string, opts: { context?: string; dockerfile?: string; buildArgs?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
  const from = await baseImage();
  const args = ['build', ...buildFlags(), '-t', tag, '--build-arg', `NODE_IMAGE=${from}`];
  for (const [k, v] of Object.entries(opts.buildArgs ?? {})) args.push('--build-arg', `${k}=${v}`);
  args.push('-f', opts.dockerfile ?? path.join(ROOT, 'Dockerfile'), opts.context ?? ROOT);
  const out = await ok(podman(args, { timeoutMs: opts.timeoutMs ?? 10 * 60_000 }), `podman build -t ${tag}`);
  // podman build prints the image's id as its last line of stdout.
  return out.trim().split('\n').pop()!;
}

const containers = new Set<string>();
/** A container name unique to this run, removed (`podman rm -f`) by {@link removeContainers}. */
export function containerName(what: string): string {
  const name = `gwtest-${what}-${process.pid}-${containers.size}`;
  containers.add(name);
  return name;
}

/** Removes every container named by {@link containerName}: call it from the suite's `after` hook. */
export async function removeContainers(): Promise<void> {
  const names = [...containers];
  containers.clear();
  if (names.length) await podman(['rm', '-f', '-t', '0', ...names], { timeoutMs: 60_000 });
}
