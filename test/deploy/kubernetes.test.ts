/**
 * deploy/kubernetes/, as far as a machine without a cluster can take it.
 *
 * Proves: every manifest is valid against the Kubernetes 1.31 API schemas
 * that the `kubernetes-models` package compiles (types, required fields,
 * enums; the validator rejects a broken manifest too) and has no field
 * those models lack (tsc's excess-property check; it catches a typo); the fields no engine
 * here runs say what docs/kubernetes.md says (readiness on /readyz of the
 * metrics port, bound to 0.0.0.0; a preStop pause; terminationGracePeriodSeconds
 * above the pause plus --graceful-timeout read from the container's args;
 * the Service carrying the app's port and not 9100; the PDB's and HPAs'
 * targets matching the Deployment); and `podman kube play` of the
 * Deployment's pod, from the image the Dockerfile builds: the app answers,
 * WEB_CONCURRENCY comes from the CPU limit through the downward API, the
 * liveness probe (podman's healthcheck made from it) passes, and stopping
 * the container (TERM) lets a request in flight finish with a 200 while
 * /readyz turns 503, then the container exits 0.
 *
 * Cannot prove: anything a kubelet, the endpoints controller, kube-proxy or
 * an autoscaler does. podman 4.3 runs neither the readiness probe nor
 * preStop, applies no terminationGracePeriodSeconds (the test passes it to
 * `podman stop -t`), stops a pod's infra container along with the app
 * (which kills gwserver at once under shareProcessNamespace; the kubelet
 * stops the sandbox last, so the test stops the container), and runs the liveness probe only when asked
 * (`podman healthcheck run`: no systemd timers here), through `curl`, which
 * the image lacks: the test's image adds a stand-in that makes the same GET
 * with node's fetch. Neither check knows the API server's own rules beyond
 * the schema (immutable fields, cross-field validation, admission).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseAllDocuments, stringify } from 'yaml';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IIoK8sApiCoreV1Container } from 'kubernetes-models/v1/Container';
import { ROOT } from '../helpers/gwserver.js';
import { freePort } from '../helpers/free-port.js';
import { get } from '../helpers/http.js';
import { parseMetrics, sum } from '../helpers/metrics.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';
import { buildImage, DEPLOY, ok, podman, requirePodman } from './podman.js';

const MANIFESTS = path.join(ROOT, 'deploy/kubernetes');

interface Manifest {
  file: string;
  doc: { apiVersion: string; kind: string; metadata?: { name?: string } } & Record<string, unknown>;
}

function manifests(): Manifest[] {
  const out: Manifest[] = [];
  for (const file of readdirSync(MANIFESTS).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const d of parseAllDocuments(readFileSync(path.join(MANIFESTS, file), 'utf8'))) {
      assert.deepEqual(d.errors, [], `${file} parses as YAML`);
      out.push({ file, doc: d.toJS() });
    }
  }
  return out;
}

function one<T>(file: string): T {
  const found = manifests().filter((m) => m.file === file);
  assert.equal(found.length, 1, `${file} holds one object`);
  return found[0]!.doc as T;
}

/** The value after `flag` in `args` (`--flag VALUE` or `--flag=VALUE`). */
function flag(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) return args[i + 1];
    if (args[i]!.startsWith(`${name}=`)) return args[i]!.slice(name.length + 1);
  }
  return undefined;
}

function container(d: IDeployment): IIoK8sApiCoreV1Container {
  const cs = d.spec!.template.spec!.containers;
  assert.equal(cs.length, 1, 'one container');
  return cs[0]!;
}

/** A container port, by number or by name, as a number. */
function portNumber(c: IIoK8sApiCoreV1Container, port: number | string): number {
  if (typeof port === 'number') return port;
  const p = (c.ports ?? []).find((x) => x.name === port);
  assert.ok(p, `a container port named ${port}`);
  return p.containerPort;
}

/** How long the preStop hook pauses, in seconds: `sleep: {seconds}`, `exec: [sleep, N]` or `exec: [node, -e, setTimeout(..., MS)]`. */
function preStopSeconds(c: IIoK8sApiCoreV1Container): number {
  const h = c.lifecycle?.preStop;
  assert.ok(h, 'a preStop hook');
  if (h.sleep) return h.sleep.seconds;
  const cmd = h.exec?.command ?? [];
  if (cmd[0] === 'sleep') return Number(cmd[1]);
  const ms = /setTimeout\([^,]*,\s*(\d+)\s*\)/.exec(cmd.join(' '))?.[1];
  assert.ok(cmd[0] === 'node' && ms, `a preStop pause it can read: ${JSON.stringify(h)}`);
  return Number(ms) / 1000;
}

describe('deploy: Kubernetes manifests (deploy/kubernetes/)', function () {
  describe('against the Kubernetes API schemas (kubernetes-models, Kubernetes 1.31)', function () {
    this.timeout(20_000);

    // apiVersion + kind -> the module of kubernetes-models that validates it.
    async function validator(apiVersion: string, kind: string): Promise<new (data: unknown) => { validate(): void }> {
      const mod = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, new (data: unknown) => { validate(): void }>;
      const cls = mod[kind];
      assert.ok(cls, `kubernetes-models knows ${apiVersion} ${kind}`);
      return cls;
    }

    it('every manifest but the kustomization is a valid API object', async () => {
      const objects = manifests().filter((m) => m.doc.kind !== 'Kustomization');
      assert.deepEqual(objects.map((m) => `${m.file}: ${m.doc.kind}`), [
        'deployment.yaml: Deployment',
        'hpa-inflight.yaml: HorizontalPodAutoscaler',
        'hpa.yaml: HorizontalPodAutoscaler',
        'pdb.yaml: PodDisruptionBudget',
        'service.yaml: Service',
      ]);
      for (const { file, doc } of objects) {
        const Model = await validator(doc.apiVersion, doc.kind);
        assert.doesNotThrow(() => new Model(doc).validate(), `${file} is a valid ${doc.apiVersion} ${doc.kind}`);
      }
    });

    it('rejects a broken manifest (the validator is not a no-op)', async () => {
      const d = one<IDeployment>('deployment.yaml');
      const Model = await validator('apps/v1', 'Deployment');
      const broken = structuredClone(d) as unknown as { spec: { template: { spec: { containers: Array<{ ports: Array<{ containerPort: unknown }> }> } } } };
      broken.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'eight thousand';
      assert.throws(() => new Model(broken).validate(), /containerPort must be integer/);
      const noSelector = structuredClone(d) as { spec?: { selector?: unknown } };
      delete noSelector.spec!.selector;
      assert.throws(() => new Model(noSelector).validate(), /selector/);
    });

    it('has no field the API does not know (TypeScript excess-property checks against the same models)', () => {
      // The schemas allow extra fields, so a misspelt `readinesProbe` would
      // pass them: tsc, checking each manifest as an object literal of the
      // models' interface (IDeployment...), rejects any field they lack.
      const dir = tempDir('gw-kube-types-');
      const models = path.join(ROOT, 'node_modules/kubernetes-models');
      const source = (docs: Manifest['doc'][]) =>
        docs.map((doc, i) => `import type { I${doc.kind} as T${i} } from '${models}/${doc.apiVersion}/${doc.kind}.js';\nexport const m${i}: T${i} = ${JSON.stringify(doc, null, 1)};\n`).join('');
      const objects = manifests().filter((m) => m.doc.kind !== 'Kustomization');
      writeFileSync(path.join(dir, 'shipped.ts'), source(objects.map((m) => m.doc)));
      const typo = structuredClone(one<IDeployment>('deployment.yaml')) as unknown as { spec: { template: { spec: { containers: Array<Record<string, unknown>> } } } };
      typo.spec.template.spec.containers[0]!.readinesProbe = typo.spec.template.spec.containers[0]!.readinessProbe;
      writeFileSync(path.join(dir, 'typo.ts'), source([typo as unknown as Manifest['doc']]));
      const tsc = spawnSync(path.join(ROOT, 'node_modules/.bin/tsc'), ['--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', 'shipped.ts', 'typo.ts'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      const errors = tsc.stdout.split('\n').filter((l) => /error TS/.test(l));
      assert.deepEqual(errors.filter((l) => !l.startsWith('typo.ts')), [], 'the shipped manifests');
      assert.equal(errors.length, 1, tsc.stdout + tsc.stderr);
      assert.match(errors[0]!, /'"readinesProbe"' does not exist in type/);
    });
  });

  describe('the fields podman does not run', function () {
    it('probes on /healthz and /readyz of the metrics port, bound to 0.0.0.0', () => {
      const c = container(one<IDeployment>('deployment.yaml'));
      const args = c.args ?? [];
      const bind = flag(args, '--metrics-bind');
      assert.equal(bind, '0.0.0.0:9100', 'the kubelet probes the pod IP, not its loopback');
      assert.equal(flag(args, '-b'), '0.0.0.0:8000');
      const metricsPort = Number(bind.split(':')[1]);
      assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
      assert.equal(portNumber(c, c.readinessProbe.httpGet.port), metricsPort);
      assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
      assert.equal(portNumber(c, c.livenessProbe.httpGet.port), metricsPort);
      // One failed readiness probe takes the pod out: /readyz is 503 from TERM on.
      assert.equal(c.readinessProbe.failureThreshold, 1);
    });

    it('terminationGracePeriodSeconds exceeds the preStop pause plus --graceful-timeout', () => {
      const d = one<IDeployment>('deployment.yaml');
      const c = container(d);
      const graceful = Number(flag(c.args ?? [], '--graceful-timeout'));
      assert.ok(graceful > 0, 'the container args spell out --graceful-timeout');
      const pause = preStopSeconds(c);
      assert.ok(pause >= 3, `a preStop pause of a few seconds (${pause} s)`);
      const grace = d.spec!.template.spec!.terminationGracePeriodSeconds ?? 30;
      assert.ok(grace > pause + graceful, `terminationGracePeriodSeconds ${grace} > preStop ${pause} + --graceful-timeout ${graceful}`);
      // Rolling updates add a pod before removing one.
      assert.equal(d.spec!.strategy?.rollingUpdate?.maxUnavailable, 0);
    });

    it('WEB_CONCURRENCY is the CPU limit, through the downward API', () => {
      const c = container(one<IDeployment>('deployment.yaml'));
      const env = (c.env ?? []).find((e) => e.name === 'WEB_CONCURRENCY');
      const ref = env?.valueFrom?.resourceFieldRef;
      assert.equal(ref?.resource, 'limits.cpu');
      assert.equal(String(ref.divisor), '1');
      assert.equal(ref.containerName ?? c.name, c.name);
      assert.ok(c.resources?.limits?.cpu && c.resources.limits.memory, 'CPU and memory limits');
      // The HPA's Utilization target is relative to the CPU request.
      assert.ok(c.resources.requests?.cpu && c.resources.requests.memory, 'CPU and memory requests');
    });

    it('the Service carries the app port and not the metrics port', () => {
      const d = one<IDeployment>('deployment.yaml');
      const c = container(d);
      const svc = one<IService>('service.yaml');
      const ports = svc.spec?.ports ?? [];
      assert.ok(ports.length > 0);
      for (const p of ports) {
        const target = portNumber(c, p.targetPort ?? p.port);
        assert.equal(target, 8000, `Service port ${p.port} goes to the app`);
        assert.notEqual(p.port, 9100);
      }
      assert.deepEqual(svc.spec?.selector, d.spec!.selector.matchLabels);
    });

    it('the PDB and the HPAs select the Deployment', () => {
      const d = one<IDeployment>('deployment.yaml');
      const labels = d.spec!.template.metadata?.labels ?? {};
      for (const [k, v] of Object.entries(d.spec!.selector.matchLabels ?? {})) assert.equal(labels[k], v, `the pod template carries ${k}=${v}`);
      const pdb = one<IPodDisruptionBudget>('pdb.yaml');
      assert.deepEqual(pdb.spec?.selector?.matchLabels, d.spec!.selector.matchLabels);
      for (const file of ['hpa.yaml', 'hpa-inflight.yaml']) {
        const hpa = one<IHorizontalPodAutoscaler>(file);
        assert.deepEqual(hpa.spec?.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata?.name }, file);
        assert.ok((hpa.spec?.minReplicas ?? 1) >= 2, `${file}: two pods at least`);
      }
      // The Deployment leaves the replica count to the HPA.
      assert.equal(d.spec!.replicas, undefined);
    });

    it('the in-flight HPA names the gauge gwserver serves', () => {
      const hpa = one<IHorizontalPodAutoscaler>('hpa-inflight.yaml');
      const names = (hpa.spec?.metrics ?? []).filter((m) => m.type === 'Pods').map((m) => m.pods?.metric.name);
      assert.deepEqual(names, ['gwserver_http_requests_in_flight']);
      const src = spawnSync('grep', ['-rl', 'gwserver_http_requests_in_flight', path.join(ROOT, 'src')], { encoding: 'utf8' });
      assert.ok(src.stdout.trim(), 'src/ defines the metric');
      const doc = readFileSync(path.join(ROOT, 'docs/kubernetes.md'), 'utf8');
      assert.match(doc, /seriesQuery: 'gwserver_http_requests_in_flight\{/, 'docs/kubernetes.md has its adapter rule');
    });

    it('the kustomization lists every manifest but the optional in-flight HPA', () => {
      const k = one<{ resources: string[] }>('kustomization.yaml');
      const files = readdirSync(MANIFESTS).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml' && f !== 'hpa-inflight.yaml');
      assert.deepEqual([...k.resources].sort(), files.sort());
    });
  });

  describe('podman kube play of the Deployment', function () {
    // The image build is cached after the first run (the base image exists already).
    this.timeout(10 * 60_000);
    const APP_IMAGE = 'localhost/gwserver-kube:test';
    const PROBE_IMAGE = 'localhost/gwserver-kube-probe:test';
    const name = `gwtest-kube-${process.pid}`;
    const pod = `${name}-pod-0`;
    const ctr = `${pod}-gwserver`;
    let appPort = 0;
    let metricsPort = 0;
    let grace = 0;
    let cpus = 0;
    let played = false;

    before(async function () {
      requirePodman(this);
      if (spawnSync('sh', ['-c', 'command -v catatonit']).status !== 0) {
        console.log('      skipped: needs catatonit (apt-get install catatonit): podman builds its pod infra image from it');
        this.skip();
      }
      await buildImage(APP_IMAGE);
      const dir = path.join(DEPLOY, 'kubernetes');
      await ok(podman(['build', '--format', 'docker', '--network', 'none', '-t', PROBE_IMAGE, '--build-arg', `IMAGE=${APP_IMAGE}`, '-f', path.join(dir, 'Containerfile'), dir]), `podman build -t ${PROBE_IMAGE}`);

      // The manifest as shipped, but for what this machine needs: the test's
      // image and app, a name of its own, one replica (podman 4.3 starts
      // them all), and both ports on loopback (podman publishes every
      // containerPort, on 0.0.0.0 unless told otherwise).
      const d = structuredClone(one<IDeployment>('deployment.yaml'));
      appPort = await freePort();
      metricsPort = await freePort();
      d.metadata!.name = name;
      d.spec!.replicas = 1;
      const spec = d.spec!.template.spec!;
      grace = spec.terminationGracePeriodSeconds!;
      const c = spec.containers[0]!;
      c.image = PROBE_IMAGE;
      c.imagePullPolicy = 'Never';
      c.args = c.args!.map((a) => (a === 'examples/base64:application' ? 'kube-test/slow.mjs:application' : a));
      for (const p of c.ports!) Object.assign(p, { hostIP: '127.0.0.1', hostPort: p.containerPort === 8000 ? appPort : metricsPort });
      cpus = Number(c.resources!.limits!.cpu);
      const file = path.join(tempDir('gw-kube-'), 'deployment.yaml');
      writeFileSync(file, stringify(d));
      played = true;
      await ok(podman(['kube', 'play', file], { timeoutMs: 120_000 }), 'podman kube play');
    });

    after(async () => {
      if (played) await podman(['pod', 'rm', '-f', '-t', '0', pod], { timeoutMs: 60_000 });
    });

    async function inspect<T>(format: string): Promise<T> {
      return JSON.parse(await ok(podman(['inspect', '--format', `{{json ${format}}}`, ctr]), `podman inspect ${ctr}`)) as T;
    }

    it('runs the pod, and the app answers on the Deployment container port', async () => {
      const r = await until(() => get(appPort, '/').catch(() => undefined), 60_000, 'the app on the published port');
      assert.equal(r.status, 200);
      assert.match(r.body, /Base64 encoder/);
      assert.equal((await inspect<{ User: string }>('.Config')).User, '1000:1000', 'runs as the pod securityContext user');
    });

    it('WEB_CONCURRENCY is filled from limits.cpu: as many workers as CPUs in the limit', async () => {
      const env = await inspect<string[]>('.Config.Env');
      assert.ok(env.includes(`WEB_CONCURRENCY=${cpus}`), `WEB_CONCURRENCY=${cpus} in ${env.join(' ')}`);
      await until(async () => sum(parseMetrics((await get(metricsPort, '/metrics')).body), 'gwserver_workers', { state: 'ready' }) === cpus, 30_000, `${cpus} ready workers`);
    });

    it('the liveness probe becomes a podman healthcheck of /healthz on 9100, and it passes', async () => {
      const hc = await inspect<{ Test: string[] }>('.Config.Healthcheck');
      assert.match(hc.Test.join(' '), /http:\/\/localhost:9100\/healthz/);
      // No systemd runs podman's healthcheck timers here: run it as they would.
      await until(async () => (await podman(['healthcheck', 'run', ctr])).code === 0, 30_000, 'podman healthcheck run to pass');
      assert.equal((await inspect<{ Status: string }>('.State.Health')).Status, 'healthy');
    });

    it('a container stop (TERM) finishes the request in flight with a 200, turns /readyz 503, and the container exits 0', async () => {
      assert.equal((await get(metricsPort, '/readyz')).status, 200);
      const slow = get(appPort, '/slow?ms=3000', { timeoutMs: 20_000 });
      await until(async () => sum(parseMetrics((await get(metricsPort, '/metrics')).body), 'gwserver_http_requests_in_flight') >= 1, 10_000, 'the request in flight');
      const t0 = Date.now();
      // The app container alone, as the kubelet stops it before the pod's
      // sandbox: `podman pod stop` (and `kube down`) stops the infra
      // container at the same time, and with shareProcessNamespace its
      // catatonit is the namespace's PID 1, whose exit SIGKILLs gwserver.
      // -t: the kubelet's SIGKILL deadline, which podman 4.3 does not take from the manifest.
      const stop = podman(['stop', '-t', String(grace), ctr], { timeoutMs: (grace + 30) * 1000 });
      await until(async () => (await get(metricsPort, '/readyz').catch(() => undefined))?.status === 503, 5_000, '/readyz to turn 503 on TERM');
      const r = await slow;
      assert.equal(r.status, 200);
      assert.equal(r.body, 'slept 3000 ms\n');
      await ok(stop, 'podman stop');
      assert.ok(Date.now() - t0 < grace * 1000, 'stopped before the grace period ran out');
      const state = await inspect<{ ExitCode: number; OOMKilled: boolean }>('.State');
      assert.equal(state.ExitCode, 0);
    });
  });
});
