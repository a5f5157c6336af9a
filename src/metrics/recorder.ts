/**
 * A worker's HTTP request metrics, counted in plain numbers on the request
 * path (no prom-client call, no message, no allocation once a method and
 * status pair has been seen) and turned into prom-client's JSON shape only
 * when the worker pushes a snapshot to the master, once a second.
 *
 * Labels are bounded whatever the clients send: the method is one of the
 * nine standard ones or `other`, the status a code from 100 to 599 or
 * `other`. At most 10 × 501 label pairs can exist, and in practice a handful.
 *
 * @module
 */
import type { MetricJSON, MetricValue } from './types.js';

/** The methods that get a label value of their own; any other is `other`. */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'other'] as const;
const OTHER_METHOD = METHODS.length - 1;
/** Statuses 100..599 have their own slot; index 500 is `other`. */
const STATUS_SLOTS = 501;

/** Upper bounds (bytes) of the request and response size histograms: 64 B to 16 MiB, ×4. */
export const SIZE_BUCKETS: readonly number[] = [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216];

/** The metric names gwserver's request metrics use. */
export const NAMES = {
  requests: 'gwserver_http_requests_total',
  duration: 'gwserver_http_request_duration_seconds',
  inFlight: 'gwserver_http_requests_in_flight',
  requestSize: 'gwserver_http_request_size_bytes',
  responseSize: 'gwserver_http_response_size_bytes',
  upgraded: 'gwserver_upgraded_connections',
  upgrades: 'gwserver_upgrades_total',
  responseTimeouts: 'gwserver_response_timeouts_total',
} as const;

/** The method's index in {@link METHODS}. */
export function methodIndex(method: string | undefined): number {
  switch (method) {
    case 'GET': return 0;
    case 'HEAD': return 1;
    case 'POST': return 2;
    case 'PUT': return 3;
    case 'DELETE': return 4;
    case 'PATCH': return 5;
    case 'OPTIONS': return 6;
    case 'CONNECT': return 7;
    case 'TRACE': return 8;
    default: return OTHER_METHOD;
  }
}

/** The status's slot: 0..499 for 100..599, 500 for anything else. */
export function statusIndex(status: number): number {
  return status >= 100 && status <= 599 && Number.isInteger(status) ? status - 100 : STATUS_SLOTS - 1;
}

/** The label value of a status slot. */
export function statusLabel(index: number): string {
  return index === STATUS_SLOTS - 1 ? 'other' : String(index + 100);
}

/** Index of the first bucket whose bound is >= value (bounds.length: only +Inf). */
function bucketOf(bounds: readonly number[], value: number): number {
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  return i;
}

/** Counts of one histogram: per-bucket (not cumulative), with the +Inf bucket last. */
class Hist {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(buckets: number) {
    this.counts = new Float64Array(buckets + 1);
  }
}

interface Slot {
  method: number;
  status: number;
  duration: Hist;
}

/** What the recorder needs of a finished request (a subset of the handler's ExchangeRecord). */
export interface ObservedRequest {
  readonly req: { readonly method?: string | undefined };
  readonly loggedStatus: number;
  readonly sent: number;
  readonly received: number;
  readonly startedAt: number;
  readonly endedAt: number;
  /** The app missed --response-timeout (absent: never). */
  readonly timedOut?: boolean;
}

/**
 * The request metrics of one worker, cumulative since it started.
 * `observe()` is the only call on the request path.
 */
export class RequestRecorder {
  readonly #buckets: readonly number[];
  /** Indexed by method * STATUS_SLOTS + status; holes until a pair is first seen. */
  readonly #slots: Array<Slot | undefined> = [];
  /** Slots in the order first seen (the snapshot walks these, not the holes). */
  readonly #seen: Slot[] = [];
  readonly #requestSize = new Hist(SIZE_BUCKETS.length);
  readonly #responseSize = new Hist(SIZE_BUCKETS.length);
  #ended = 0;
  #timeouts = 0;

  /** @param buckets the duration histogram's upper bounds in seconds, ascending (--metrics-buckets). */
  constructor(buckets: readonly number[]) {
    this.#buckets = [...buckets];
  }

  /** Counts a finished request. */
  observe(r: ObservedRequest): void {
    const m = methodIndex(r.req.method);
    const s = statusIndex(r.loggedStatus);
    const key = m * STATUS_SLOTS + s;
    let slot = this.#slots[key];
    if (slot === undefined) {
      slot = { method: m, status: s, duration: new Hist(this.#buckets.length) };
      this.#slots[key] = slot;
      this.#seen.push(slot);
    }
    const seconds = (r.endedAt - r.startedAt) / 1000;
    const d = slot.duration;
    d.counts[bucketOf(this.#buckets, seconds)]!++;
    d.sum += seconds;
    d.count++;
    const rq = this.#requestSize;
    rq.counts[bucketOf(SIZE_BUCKETS, r.received)]!++;
    rq.sum += r.received;
    rq.count++;
    const rs = this.#responseSize;
    rs.counts[bucketOf(SIZE_BUCKETS, r.sent)]!++;
    rs.sum += r.sent;
    rs.count++;
    if (r.timedOut === true) this.#timeouts++;
    this.#ended++;
  }

  /** Requests finished so far. */
  get ended(): number {
    return this.#ended;
  }

  /**
   * The metrics as prom-client's `getMetricsAsJSON()` would give them.
   * @param started requests started so far (in flight = started - ended).
   * @param upgrades upgraded connections (WebSockets) open now and accepted so far.
   */
  toJSON(started: number, upgrades: { open: number; total: number } = { open: 0, total: 0 }): MetricJSON[] {
    const requests: MetricValue[] = [];
    const duration: MetricValue[] = [];
    for (const slot of this.#seen) {
      const labels = { method: METHODS[slot.method]!, status: statusLabel(slot.status) };
      requests.push({ value: slot.duration.count, labels });
      histValues(NAMES.duration, this.#buckets, slot.duration, labels, duration);
    }
    return [
      { name: NAMES.requests, help: 'HTTP requests answered, by method and status (499: the client went away first).', type: 'counter', values: requests, aggregator: 'sum' },
      { name: NAMES.duration, help: 'Time from a request reaching the worker to the end of its response, in seconds.', type: 'histogram', values: duration, aggregator: 'sum' },
      { name: NAMES.inFlight, help: 'Requests being handled now.', type: 'gauge', values: [{ value: Math.max(0, started - this.#ended), labels: {} }], aggregator: 'sum' },
      { name: NAMES.requestSize, help: 'Request body sizes, in bytes (as read by the app).', type: 'histogram', values: histValues(NAMES.requestSize, SIZE_BUCKETS, this.#requestSize, {}, []), aggregator: 'sum' },
      { name: NAMES.responseSize, help: 'Response body sizes, in bytes (as sent).', type: 'histogram', values: histValues(NAMES.responseSize, SIZE_BUCKETS, this.#responseSize, {}, []), aggregator: 'sum' },
      { name: NAMES.upgraded, help: 'Upgraded connections (WebSockets) open now; not requests in flight.', type: 'gauge', values: [{ value: upgrades.open, labels: {} }], aggregator: 'sum' },
      { name: NAMES.upgrades, help: 'Connections upgraded (WebSocket handshakes handed to the app).', type: 'counter', values: [{ value: upgrades.total, labels: {} }], aggregator: 'sum' },
      { name: NAMES.responseTimeouts, help: 'Requests whose app sent no response headers within --response-timeout (answered 503 by gwserver).', type: 'counter', values: [{ value: this.#timeouts, labels: {} }], aggregator: 'sum' },
    ];
  }
}

/** Appends a histogram's samples (cumulative buckets, +Inf, _sum, _count) in prom-client's order. */
function histValues(name: string, bounds: readonly number[], h: Hist, labels: Record<string, string>, out: MetricValue[]): MetricValue[] {
  let acc = 0;
  for (let i = 0; i < bounds.length; i++) {
    acc += h.counts[i]!;
    out.push({ value: acc, labels: { le: bounds[i]!, ...labels }, metricName: `${name}_bucket` });
  }
  out.push({ value: h.count, labels: { le: '+Inf', ...labels }, metricName: `${name}_bucket` });
  out.push({ value: h.sum, labels: { ...labels }, metricName: `${name}_sum` });
  out.push({ value: h.count, labels: { ...labels }, metricName: `${name}_count` });
  return out;
}
