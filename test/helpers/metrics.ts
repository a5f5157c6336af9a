/**
 * Reading gwserver's /metrics in tests: the Prometheus text format parsed,
 * sums over samples, scrapes polled until a condition holds.
 */
import { startGwserver, type Gwserver } from './gwserver.js';
import { get } from './http.js';
import { until } from './until.js';

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

export async function scrape(port: number, timeoutMs = 10_000): Promise<Scrape> {
  const r = await get(port, '/metrics', { timeoutMs });
  return { status: r.status, contentType: String(r.headers['content-type'] ?? ''), body: r.body, ms: r.ms, samples: r.status === 200 ? parseMetrics(r.body) : [] };
}

/** Scrapes until `cond` holds (the workers push once a second); returns the scrape that satisfied it. */
export async function scrapeUntil(port: number, cond: (s: Sample[]) => boolean, timeoutMs = 5000, what = 'the metrics'): Promise<Sample[]> {
  let last: Sample[] = [];
  return until(async () => {
    last = (await scrape(port)).samples;
    return cond(last) && last;
  }, timeoutMs, () => `${what}; last scrape:\n${last.filter((s) => s.name.startsWith('gwserver_')).map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`).join('\n')}`, 100);
}

export const REQUESTS = 'gwserver_http_requests_total';

/** Starts gwserver with --metrics-bind 127.0.0.1:0 and learns the metrics port from the "metrics listening" record. */
export async function startWithMetrics(args: string[]): Promise<{ srv: Gwserver; mport: number }> {
  const srv = await startGwserver(['--metrics-bind', '127.0.0.1:0', ...args]);
  const rec = await srv.waitForRecord((r) => r.msg === 'metrics listening');
  return { srv, mport: Number(new URL(String(rec.address)).port) };
}

