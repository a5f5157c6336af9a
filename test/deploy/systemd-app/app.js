// The app test/deploy/systemd.test.ts installs in /srv/app (and /srv/alpha,
// /srv/beta for the template unit): it says who answered, answers slowly on
// demand, tries to write where it is told, and loads slowly when the
// service's environment has APP_LOAD_MS, so that Type=notify's wait for the
// workers can be seen.
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const loadMs = Number(process.env.APP_LOAD_MS || 0);
if (loadMs > 0) await sleep(loadMs);

/** @type {import('gwserver').Application} */
export const application = async (environ, startResponse) => {
  const query = new URLSearchParams(String(environ.QUERY_STRING ?? ''));
  /** @type {Record<string, unknown>} */
  let body = { pid: process.pid, cwd: process.cwd() };
  if (environ.PATH_INFO === '/slow') {
    // The test waits for this line in the journal to know the request is in flight.
    console.error(JSON.stringify({ msg: 'slow request started', tag: query.get('tag') }));
    await sleep(Number(query.get('ms') ?? 1000));
  } else if (environ.PATH_INFO === '/write') {
    const file = String(query.get('path'));
    try {
      writeFileSync(file, 'written by the app\n');
      body = { ...body, wrote: file };
    } catch (err) {
      body = { ...body, error: /** @type {NodeJS.ErrnoException} */ (err).code };
    }
  }
  startResponse('200 OK', [['Content-Type', 'application/json']]);
  return [JSON.stringify(body)];
};
