/**
 * Reading gwserver's /metrics in tests: the Prometheus text format parsed,
 * sums over samples, scrapes polled until a condition holds.
 */
import http from 'node:http';
import { startGwserver, type Gwserver } from './gwserver.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (enough of it for these tests). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of a metric's samples whose labels include `match`. */
export function sum(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

export interface Scrape {
  status: number;
  contentType: string;
  body: string;
  samples: Sample[];
  ms: number;
}

export function request(port: number, path: string, method = 'GET', timeoutMs = 10_000): Promise<{ status: number; contentType: string; body: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body, ms: Date.now() - t0 }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer to ${method} ${path} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export async function scrape(port: number, timeoutMs = 10_000): Promise<Scrape> {
  const r = await request(port, '/metrics', 'GET', timeoutMs);
  return { ...r, samples: r.status === 200 ? parseMetrics(r.body) : [] };
}

/** Scrapes until `cond` holds (the workers push once a second); returns the scrape that satisfied it. */
export async function scrapeUntil(port: number, cond: (s: Sample[]) => boolean, timeoutMs = 5000, what = 'the metrics'): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs;
  let last: Sample[] = [];
  for (;;) {
    last = (await scrape(port)).samples;
    if (cond(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; last scrape:\n${last.filter((s) => s.name.startsWith('gwserver_')).map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const REQUESTS = 'gwserver_http_requests_total';

/** Starts gwserver with --metrics-bind 127.0.0.1:0 and learns the metrics port from the "metrics listening" record. */
export async function startWithMetrics(args: string[]): Promise<{ srv: Gwserver; mport: number }> {
  const srv = await startGwserver(['--metrics-bind', '127.0.0.1:0', ...args]);
  const rec = await srv.waitForRecord((r) => r.msg === 'metrics listening');
  return { srv, mport: Number(new URL(String(rec.address)).port) };
}

