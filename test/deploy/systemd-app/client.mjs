// The HTTP client of test/deploy/systemd.test.ts, run in the container with
// podman exec: the units listen on the container's 127.0.0.1 and a unix
// socket, which podman's published ports (they reach the container's own
// address) do not forward.
//
//   node client.mjs get TARGET PATH           one request: prints {status, body} or {error}
//   node client.mjs load TARGET PATH MAX_MS STOPFILE
//        a loop of 4 concurrent clients until STOPFILE exists (or MAX_MS):
//        prints {ok, failed, errors}
//
// TARGET: HOST:PORT or a unix socket's path.
import { existsSync } from 'node:fs';
import http from 'node:http';

const [cmd, target, urlPath, maxMs, stopFile] = process.argv.slice(2);
const where = target.startsWith('/') ? { socketPath: target } : { host: target.split(':')[0], port: Number(target.split(':')[1]) };

/** @returns {Promise<{status?: number, body?: string, error?: string}>} */
function get(p) {
  return new Promise((resolve) => {
    const req = http.get({ ...where, path: p, agent: false, timeout: 30_000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', (err) => resolve({ error: String(err.code ?? err) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ error: String(/** @type {NodeJS.ErrnoException} */ (err).code ?? err.message) }));
  });
}

if (cmd === 'get') {
  console.log(JSON.stringify(await get(urlPath)));
} else if (cmd === 'load') {
  const end = Date.now() + Number(maxMs);
  let ok = 0;
  let failed = 0;
  /** @type {Record<string, number>} */
  const errors = {};
  const loop = async () => {
    while (Date.now() < end && !existsSync(stopFile)) {
      const r = await get(urlPath);
      if (r.status === 200) ok++;
      else {
        failed++;
        const why = r.error ?? `HTTP ${r.status}`;
        errors[why] = (errors[why] ?? 0) + 1;
      }
    }
  };
  await Promise.all([loop(), loop(), loop(), loop()]);
  console.log(JSON.stringify({ ok, failed, errors }));
}
