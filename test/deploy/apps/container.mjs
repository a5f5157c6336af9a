// The app of the container tests, mounted into the image at /app/container.mjs.
// - GET /slow?ms=N: sends its first line at once, the second after N ms (2000), so a
//   client knows the request is in flight when the headers arrive.
// - anything else: the worker's pid, to tell workers apart across a reload.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function application(environ, startResponse) {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  if (environ.PATH_INFO !== '/slow') return [String(process.pid)];
  const ms = Number(new URLSearchParams(environ.QUERY_STRING).get('ms') ?? 2000);
  return (async function* () {
    yield 'started\n';
    await sleep(ms);
    yield 'done\n';
  })();
}
