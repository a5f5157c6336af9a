/**
 * TLS (--certfile, --keyfile, --ca-certs, --cert-reqs, --ciphers,
 * --tls-min-version), with certificates made by the `openssl` command: every
 * interface sees https, with Node's https client and curl; client
 * certificates asked for, refused and passed to the app; keys readable by
 * root alone with --user nobody (the master reads them); a certificate
 * swapped on disk and a HUP (new connections get the new one, a request in
 * flight on an older connection finishes); a bad setting is one line and
 * exit 2; and how TLS composes with the PROXY protocol, round-robin
 * scheduling, --worker-connections and a graceful stop.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { type CertFiles, type Certificates, hasOpenssl, makeCertificates } from '../helpers/certs.js';
import { eachInterface, ROOT, runToExit, startGwserver } from '../helpers/gwserver.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

const APP = 'test/fixtures/apps/tls.mjs';

interface Reply {
  status: number;
  /** The app's JSON; `{ text }` for an answer that is not JSON. */
  body: Record<string, unknown>;
  /** The SHA-256 fingerprint of the certificate the server showed. */
  fingerprint: string;
  socket: tls.TLSSocket;
}

interface GetOptions {
  /** The client's certificate. */
  cert?: CertFiles;
  agent?: https.Agent;
  /** The request is sent (for a test that must act while it is in flight). */
  onSent?: () => void;
}

/** One GET over https, trusting the test CA only; rejects on a handshake or connection error, or after 10 s. */
function httpsGet(certs: Certificates, port: number, urlPath = '/', o: GetOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port,
      path: urlPath,
      ca: readFileSync(certs.ca),
      ...(o.cert === undefined ? {} : { cert: readFileSync(o.cert.cert), key: readFileSync(o.cert.key) }),
      agent: o.agent ?? false,
      ...(o.agent === undefined ? { headers: { Connection: 'close' } } : {}),
    }, (res) => {
      const socket = res.socket as tls.TLSSocket;
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // A refusal of gwserver's own (503), not the app's JSON.
          body = { text };
        }
        resolve({ status: res.statusCode ?? 0, body, fingerprint, socket });
      });
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no response to GET ${urlPath} within 10 s`)));
    req.on('error', reject);
    req.on('finish', () => o.onSent?.());
    req.end();
  });
}

const fingerprintOf = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;

/** `curl ARGS...`: its exit code and output. */
function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: unknown }).code ?? 1), stdout, stderr });
    });
  });
}

function hasCommand(name: string): boolean {
  return spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0;
}

describe('TLS', function () {
  this.timeout(40_000);
  let certs: Certificates;
  let dir: string;
  let tlsFlags: string[];

  before(function () {
    if (!hasOpenssl()) {
      console.log('      (skipped: the openssl command is missing; apt-get install openssl)');
      this.skip();
    }
    dir = tempDir('gw-tls-');
    certs = makeCertificates(dir);
    tlsFlags = ['--certfile', certs.server.cert, '--keyfile', certs.server.key];
  });

  for (const [kind, target, flags] of eachInterface(APP)) {
    it(`${kind} interface: https with Node's https client (${kind === 'gateway' ? 'wsgi.url_scheme, HTTPS, SSL_*' : kind === 'node' ? 'req.socket.encrypted' : 'request.url'})`, async () => {
      const srv = await startGwserver(['-w', '1', ...tlsFlags, ...flags, target]);
      assert.match(srv.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'the listening record says https');
      const r = await httpsGet(certs, srv.port, '/a?b=1');
      assert.equal(r.status, 200);
      assert.equal(r.fingerprint, fingerprintOf(certs.server.cert));
      if (kind === 'gateway') {
        assert.equal(r.body['wsgi.url_scheme'], 'https');
        assert.equal(r.body.HTTPS, 'on');
        assert.match(String(r.body.SSL_PROTOCOL), /^TLSv1\.[23]$/);
        assert.ok(typeof r.body.SSL_CIPHER === 'string' && r.body.SSL_CIPHER !== '');
        assert.equal(r.body.SSL_CLIENT_VERIFY, 'NONE');
        assert.equal(r.body.SSL_CLIENT_S_DN, undefined);
      } else if (kind === 'node') {
        assert.equal(r.body.encrypted, true);
      } else {
        assert.equal(r.body.url, `https://127.0.0.1:${srv.port}/a?b=1`);
      }
      // Plain HTTP on the TLS port gets no HTTP answer.
      await assert.rejects(fetch(`http://127.0.0.1:${srv.port}/`));
    });
  }

  /** One GET over HTTP/2 with TLS (ALPN h2), trusting the test CA: the status, the JSON body and the protocol ALPN chose. */
  async function h2Get(port: number, urlPath: string): Promise<{ status: number; body: Record<string, unknown>; alpn: string | false | undefined }> {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: readFileSync(certs.ca) });
    try {
      return await new Promise((resolve, reject) => {
        session.once('error', reject);
        const stream = session.request({ ':path': urlPath });
        const chunks: Buffer[] = [];
        let status = 0;
        stream.on('response', (h) => { status = Number(h[':status']); });
        stream.on('data', (d: Buffer) => chunks.push(d));
        stream.on('end', () => resolve({ status, body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>, alpn: session.alpnProtocol }));
        stream.on('error', reject);
        stream.setTimeout(10_000, () => stream.close());
      });
    } finally {
      session.close();
    }
  }

  /** The protocol ALPN picks for a client that offers h2 and http/1.1. */
  function alpnChoice(port: number): Promise<string | false> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(certs.ca), ALPNProtocols: ['h2', 'http/1.1'] }, () => {
        resolve(socket.alpnProtocol ?? false);
        socket.destroy();
      });
      socket.once('error', reject);
    });
  }

  it('HTTP/2 by ALPN (--http-protocols h2,h1): h2 and HTTP/1.1 on one port for gateway and fetch apps; a node app is offered http/1.1 only', async () => {
    const [gw, fetchSrv, nodeSrv] = await Promise.all([
      startGwserver(['-w', '1', ...tlsFlags, '--http-protocols', 'h2,h1', `${APP}:gateway`]),
      startGwserver(['-w', '1', ...tlsFlags, '--http-protocols', 'h2,h1', `${APP}:fetchApp`]),
      startGwserver(['-w', '1', ...tlsFlags, '--http-protocols', 'h2,h1', '--interface', 'node', `${APP}:node`]),
    ]);
    const g = await h2Get(gw.port, '/x');
    assert.equal(g.status, 200);
    assert.equal(g.alpn, 'h2');
    assert.equal(g.body.SERVER_PROTOCOL, 'HTTP/2.0');
    assert.equal(g.body['wsgi.url_scheme'], 'https');
    assert.equal(g.body.HTTPS, 'on');
    assert.match(String(g.body.SSL_PROTOCOL), /^TLSv1\.[23]$/);
    // The same port over HTTP/1.1 (Node's https client offers no ALPN).
    const h1 = await httpsGet(certs, gw.port, '/x');
    assert.equal(h1.status, 200);
    assert.equal(h1.body.SERVER_PROTOCOL, 'HTTP/1.1');
    const f = await h2Get(fetchSrv.port, '/y?z=1');
    assert.equal(f.alpn, 'h2');
    assert.equal(f.body.url, `https://127.0.0.1:${fetchSrv.port}/y?z=1`);
    // Express and most node:http frameworks do not take Node's HTTP/2 compatibility API: ALPN settles on http/1.1.
    assert.equal(await alpnChoice(nodeSrv.port), 'http/1.1');
    assert.equal(await alpnChoice(gw.port), 'h2');
    assert.ok(nodeSrv.stderr.some((l) => l.includes('serving HTTP/1.1 only')), nodeSrv.stderr.join('\n'));
    assert.ok(gw.stderr.some((l) => l.includes('serving h2 and HTTP/1.1')), gw.stderr.join('\n'));
    const curl = spawnSync('curl', ['-s', '--http2', '--cacert', certs.ca, '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `https://127.0.0.1:${gw.port}/`], { encoding: 'utf8', timeout: 15_000 });
    if (curl.status === 0) assert.equal(curl.stdout, '2 200');
  });

  it('curl, verifying against the CA, over TLS 1.2 and 1.3; --tls-min-version TLSv1.3 refuses 1.2', async function () {
    if (!hasCommand('curl')) {
      console.log('      (skipped: curl is missing; apt-get install curl)');
      this.skip();
    }
    const [srv, only13] = await Promise.all([
      startGwserver(['-w', '1', ...tlsFlags, `${APP}:gateway`]),
      startGwserver(['-w', '1', ...tlsFlags, '--tls-min-version', 'TLSv1.3', `${APP}:gateway`]),
    ]);
    for (const version of ['--tlsv1.2', '--tlsv1.3']) {
      const max = version === '--tlsv1.2' ? ['--tls-max', '1.2'] : [];
      const r = await curl(['--cacert', certs.ca, version, ...max, `${srv.url}/`]);
      assert.equal(r.code, 0, r.stderr);
      const body = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(body['wsgi.url_scheme'], 'https');
      assert.equal(body.SSL_PROTOCOL, version === '--tlsv1.2' ? 'TLSv1.2' : 'TLSv1.3');
    }
    // The name in the certificate is checked too: localhost is in it.
    assert.equal((await curl(['--cacert', certs.ca, '--resolve', `localhost:${srv.port}:127.0.0.1`, `https://localhost:${srv.port}/`])).code, 0);
    const old = await curl(['--cacert', certs.ca, '--tlsv1.2', '--tls-max', '1.2', `${only13.url}/`]);
    assert.notEqual(old.code, 0, 'TLS 1.2 refused');
    assert.equal((await curl(['--cacert', certs.ca, `${only13.url}/`])).code, 0);
  });

  it('--cert-reqs required: no certificate or one of another CA is refused; one of --ca-certs reaches the app as SSL_CLIENT_S_DN', async () => {
    const srv = await startGwserver(['-w', '1', ...tlsFlags, '--ca-certs', certs.ca, '--cert-reqs', 'required', `${APP}:gateway`]);
    await assert.rejects(httpsGet(certs, srv.port, '/'), 'no client certificate');
    await assert.rejects(httpsGet(certs, srv.port, '/', { cert: certs.rogue }), 'a certificate of another CA');
    const r = await httpsGet(certs, srv.port, '/', { cert: certs.client });
    assert.equal(r.status, 200);
    assert.equal(r.body.SSL_CLIENT_VERIFY, 'SUCCESS');
    assert.equal(r.body.SSL_CLIENT_S_DN, 'CN=client,O=Example,C=US');
    assert.equal(r.body.SSL_CLIENT_I_DN, 'CN=gwserver test ca');
    assert.match(String(r.body.SSL_CLIENT_M_SERIAL), /^[0-9A-F]+$/);
    assert.match(String(r.body.SSL_CLIENT_V_END), /GMT$/);
    // The worker served on.
    assert.equal((await httpsGet(certs, srv.port, '/', { cert: certs.client })).status, 200);
  });

  it('--cert-reqs 1 (optional): no certificate is served, one of --ca-certs reaches a node app, one of another CA is refused', async () => {
    const [gw, node] = await Promise.all([
      startGwserver(['-w', '1', ...tlsFlags, '--ca-certs', certs.ca, '--cert-reqs', '1', `${APP}:gateway`]),
      startGwserver(['-w', '1', ...tlsFlags, '--ca-certs', certs.ca, '--cert-reqs', 'CERT_OPTIONAL', '--interface', 'node', `${APP}:node`]),
    ]);
    const none = await httpsGet(certs, gw.port, '/');
    assert.equal(none.body.SSL_CLIENT_VERIFY, 'NONE');
    assert.equal(none.body.SSL_CLIENT_S_DN, undefined);
    assert.equal((await httpsGet(certs, gw.port, '/', { cert: certs.client })).body.SSL_CLIENT_S_DN, 'CN=client,O=Example,C=US');
    await assert.rejects(httpsGet(certs, gw.port, '/', { cert: certs.rogue }));
    assert.equal((await httpsGet(certs, node.port, '/', { cert: certs.client })).body.subject, 'C=US\nO=Example\nCN=client');
    assert.equal((await httpsGet(certs, node.port, '/')).body.subject, undefined);
  });

  it('keys readable by root alone (0600, owned by root) serve with --user nobody: the master reads them', async function () {
    if (process.getuid?.() !== 0) {
      console.log('      (skipped: needs root to own the key and drop to nobody; CI runs as root)');
      this.skip();
    }
    const nobody = Number(execFileSync('id', ['-u', 'nobody']).toString().trim());
    const keys = path.join(dir, 'root-only');
    mkdirSync(keys, { mode: 0o700 });
    const key = path.join(keys, 'server.key');
    const cert = path.join(keys, 'server.pem');
    copyFileSync(certs.server.key, key);
    copyFileSync(certs.server.cert, cert);
    for (const f of [key, cert]) {
      chownSync(f, 0, 0);
      chmodSync(f, 0o600);
    }
    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.equal(statSync(key).uid, 0);
    // The app must be readable by nobody: a checkout under `mktemp -d` (mode 0700) is not.
    const appDir = tempDir('gw-tls-user-');
    chmodSync(appDir, 0o755);
    const app = path.join(appDir, 'tls.mjs');
    copyFileSync(path.join(ROOT, APP), app);
    chmodSync(app, 0o644);
    const denied = spawnSync('runuser', ['-u', 'nobody', '--', 'cat', key], { stdio: 'ignore' });
    if (denied.error === undefined) assert.notEqual(denied.status, 0, 'nobody cannot read the key');
    const srv = await startGwserver(['-w', '2', '--user', 'nobody', '--certfile', cert, '--keyfile', key, `${app}:gateway`]);
    const pids = await srv.waitWorkers(2);
    for (const pid of pids) assert.equal(Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]), nobody);
    const r = await httpsGet(certs, srv.port, '/');
    assert.equal(r.body['wsgi.url_scheme'], 'https');
    // Nothing of the key in the workers' environment (which /proc shows to the same user, and to root).
    const keyText = readFileSync(key, 'utf8').split('\n')[1]!;
    for (const pid of pids) assert.ok(!readFileSync(`/proc/${pid}/environ`, 'utf8').includes(keyText), 'the key is not in GWSERVER_WORKER');
  });

  it('HUP after the certificate changed on disk: new connections get the new one, a request in flight on an older connection finishes', async () => {
    const live = { cert: path.join(dir, 'live.pem'), key: path.join(dir, 'live.key') };
    copyFileSync(certs.server.cert, live.cert);
    copyFileSync(certs.server.key, live.key);
    const srv = await startGwserver(['-w', '2', '--certfile', live.cert, '--keyfile', live.key, `${APP}:gateway`]);
    await srv.waitWorkers(2);
    const [one, two] = [fingerprintOf(certs.server.cert), fingerprintOf(certs.server2.cert)];
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: readFileSync(certs.ca) });
    try {
      const first = await httpsGet(certs, srv.port, '/', { agent });
      assert.equal(first.fingerprint, one);
      let sent = false;
      const slow = httpsGet(certs, srv.port, '/slow', { agent, onSent: () => { sent = true; } });
      await until(() => sent, 5000, 'the slow request sent');
      copyFileSync(certs.server2.cert, live.cert);
      copyFileSync(certs.server2.key, live.key);
      process.kill(srv.pid, 'SIGHUP');
      await until(async () => (await httpsGet(certs, srv.port, '/')).fingerprint === two, 15_000, 'a new connection with the new certificate');
      const done = await slow;
      assert.equal(done.status, 200);
      assert.equal(done.socket, first.socket, 'the same keep-alive connection');
      assert.equal(done.fingerprint, one);
      assert.equal(done.body.pid, first.body.pid, 'answered by the old worker');
      assert.ok(srv.records().some((r) => r.msg === `TLS: serving the certificate of CN=server two (valid to ${new X509Certificate(readFileSync(certs.server2.cert)).validTo})`));
    } finally {
      agent.destroy();
    }
    const reloads = () => srv.records().filter((r) => /^reloaded in /.test(String(r.msg))).length;
    await until(() => reloads() === 1, 15_000, 'the first reload over');
    // A certificate that does not parse: one error, and the current one stays (the reload goes on with it).
    writeFileSync(live.cert, 'not a certificate\n');
    process.kill(srv.pid, 'SIGHUP');
    await until(() => reloads() === 2, 15_000, 'the second reload over');
    const errors = srv.records().filter((r) => r.level === 'error' || r.level === 50);
    assert.equal(errors.length, 1, `one error: ${JSON.stringify(errors)}`);
    assert.match(String(errors[0]!.msg), /^reload: the configuration is invalid, keeping the current one: --certfile .*live\.pem holds no PEM certificate/);
    for (let i = 0; i < 4; i++) assert.equal((await httpsGet(certs, srv.port, '/')).fingerprint, two, 'the new workers serve the second certificate still');
  });

  it('a bad TLS setting is one line on stderr and exit 2, never a stack trace', async () => {
    const other = tempDir('gw-tls-bad-');
    const combined = path.join(other, 'combined.pem');
    writeFileSync(combined, readFileSync(certs.server.cert, 'utf8') + readFileSync(certs.server.key, 'utf8'));
    const app = `${APP}:gateway`;
    const cases: Array<[string[], RegExp]> = [
      [['--certfile', path.join(other, 'missing.pem')], /^gwserver: error: cannot read --certfile .*missing\.pem: no such file \(ENOENT\)$/],
      [['--certfile', other], /^gwserver: error: cannot read --certfile .*: it is a directory \(EISDIR\)$/],
      [['--certfile', certs.server.cert, '--keyfile', certs.server2.key], /^gwserver: error: --keyfile .*server2\.key does not match the certificate in --certfile .*server\.pem/],
      [['--certfile', certs.server.cert], /^gwserver: error: --certfile .*server\.pem holds no private key: name the key's file with --keyfile$/],
      [['--certfile', certs.server.key, '--keyfile', certs.server.key], /^gwserver: error: --certfile .*server\.key holds no PEM certificate/],
      [['--certfile', certs.server.cert, '--keyfile', certs.server.cert], /^gwserver: error: --keyfile .*server\.pem holds no PEM private key/],
      [[...tlsFlags, '--tls-min-version', 'TLSv1.1'], /^gwserver: error: invalid value for --tls-min-version: "TLSv1\.1" is not a TLS version gwserver offers \(use TLSv1\.2 or TLSv1\.3\)$/],
      [[...tlsFlags, '--cert-reqs', '3'], /^gwserver: error: invalid value for --cert-reqs: "3" is not one of: none, optional, required \(or 0, 1, 2\)$/],
      [[...tlsFlags, '--cert-reqs', 'required'], /^gwserver: error: --cert-reqs required needs --ca-certs/],
      [[...tlsFlags, '--ca-certs', certs.server.key, '--cert-reqs', '2'], /^gwserver: error: --ca-certs .*server\.key holds no PEM certificate/],
      [[...tlsFlags, '--ciphers', 'NO-SUCH-CIPHER'], /^gwserver: error: --ciphers "NO-SUCH-CIPHER" matches no cipher suite/],
      [['--keyfile', certs.server.key], /^gwserver: error: --keyfile is set but TLS is off: name the server's certificate with --certfile$/],
    ];
    const runs = await Promise.all(cases.map(([args]) => runToExit([...args, app])));
    runs.forEach((run, i) => {
      const [args, pattern] = cases[i]!;
      const lines = run.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `${args.join(' ')}: one line, got:\n${run.stderr}`);
      assert.match(lines[0]!, pattern, args.join(' '));
      assert.equal(run.code, 2, `${args.join(' ')}: exit code`);
    });
    // --check-config says the same, and names the certificate when all is well; the key may be in the certificate's file.
    const bad = await runToExit(['--check-config', '--certfile', certs.server.cert, '--keyfile', certs.server2.key, app]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /does not match the certificate/);
    const ok = await runToExit(['--check-config', '--certfile', combined, app]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^tls: the certificate of CN=server one, valid to /m);
  });

  it('--proxy-protocol: the PROXY header comes before the handshake, and its address reaches the app', async () => {
    const srv = await startGwserver(['-w', '1', ...tlsFlags, '--proxy-protocol', 'v1', `${APP}:gateway`]);
    const raw = net.connect(srv.port, '127.0.0.1');
    try {
      await new Promise<void>((resolve, reject) => raw.once('connect', resolve).once('error', reject));
      raw.write('PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\n');
      const secure = tls.connect({ socket: raw, ca: readFileSync(certs.ca), servername: 'localhost' });
      await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
      // HTTP/1.0: the answer is not chunked, and the connection closes after it.
      secure.end('GET / HTTP/1.0\r\nHost: x\r\n\r\n');
      let text = '';
      secure.setEncoding('utf8');
      secure.on('data', (d: string) => (text += d));
      await new Promise<void>((resolve, reject) => secure.once('end', resolve).once('error', reject));
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
      assert.equal(body.REMOTE_ADDR, '203.0.113.7');
      assert.equal(body['wsgi.url_scheme'], 'https');
    } finally {
      raw.destroy();
    }
    // No header where one is required: closed, nothing in plain text for a TLS client to choke on.
    await assert.rejects(httpsGet(certs, srv.port, '/'));
  });

  it('round-robin scheduling (connections handed over by the master) and --worker-connections (a full worker answers 503 over TLS)', async () => {
    const srv = await startGwserver(['-w', '2', '--scheduling', 'round-robin', ...tlsFlags, `${APP}:gateway`]);
    const pids = new Set<unknown>();
    await until(async () => {
      pids.add((await httpsGet(certs, srv.port, '/')).body.pid);
      return pids.size === 2;
    }, 10_000, 'both workers answered');
    const full = await startGwserver(['-w', '1', '--worker-connections', '1', ...tlsFlags, `${APP}:gateway`]);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: readFileSync(certs.ca) });
    try {
      assert.equal((await httpsGet(certs, full.port, '/', { agent })).status, 200);
      // The keep-alive connection holds the worker's one place.
      const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        https.get({ host: '127.0.0.1', port: full.port, ca: readFileSync(certs.ca), agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        }).on('error', reject);
      });
      assert.equal(refused.status, 503);
    } finally {
      agent.destroy();
    }
    await until(async () => (await httpsGet(certs, full.port, '/')).status === 200, 10_000, 'room again');
  });

  it('--send-timeout: a TLS client that stopped reading its response is cut, and the worker serves on', async () => {
    const srv = await startGwserver(['-w', '1', '--send-timeout', '1', ...tlsFlags, 'test/fixtures/apps/edge.mjs:gateway']);
    const secure = tls.connect({ host: '127.0.0.1', port: srv.port, ca: readFileSync(certs.ca) });
    secure.on('error', () => undefined);
    try {
      await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
      let closed = false;
      secure.once('close', () => { closed = true; });
      secure.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
      // Read nothing: the 256 MiB answer fills the buffers and stops moving.
      secure.pause();
      const rec = await srv.waitForRecord((r) => /a client stopped reading its response/.test(String(r.msg)), 15_000);
      assert.ok(rec.pending_bytes > 0);
      // A paused socket sees the end once it reads again.
      secure.resume();
      await until(() => closed, 10_000, 'the stalled TLS connection closed');
    } finally {
      secure.destroy();
    }
    assert.equal((await httpsGet(certs, srv.port, '/')).status, 200);
  });

  it('a graceful stop closes connections still in their handshake instead of waiting out --graceful-timeout', async () => {
    const srv = await startGwserver(['-w', '1', '--graceful-timeout', '20', ...tlsFlags, `${APP}:gateway`]);
    const stalled = net.connect(srv.port, '127.0.0.1');
    stalled.on('error', () => undefined);
    try {
      await new Promise<void>((resolve, reject) => stalled.once('connect', resolve).once('error', reject));
      const t0 = Date.now();
      const exit = await srv.stop();
      assert.equal(exit.code, 0);
      assert.ok(Date.now() - t0 < 10_000, `stopped in ${Date.now() - t0} ms`);
    } finally {
      stalled.destroy();
    }
  });
});
