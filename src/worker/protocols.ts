/**
 * The one place that decides which HTTP versions a worker's server offers,
 * from `--http-protocols`, `--http2-cleartext`, `--http2-node-apps`, the
 * app's interface and (later) whether the socket is TLS. The server
 * (http-worker.ts) builds what the plan says, and the worker logs the
 * plan's summary at boot.
 *
 * Over TLS the plan's `alpn` is what `http2.createSecureServer({
 * allowHTTP1: true, ALPNProtocols })` offers: h2 and http/1.1 on one port,
 * the client's pick by ALPN. Over cleartext there is no negotiation: h2c by
 * prior knowledge (the connection preface, sniffed) beside HTTP/1.1.
 *
 * @module
 */
import type { InterfaceName } from '../interop/kinds.js';

/** What decides the plan. */
export interface ProtocolOptions {
  /** `--http-protocols`, in order of preference (default `['h1']`). */
  httpProtocols?: readonly string[];
  /** `--http2-cleartext`: h2c by prior knowledge on cleartext sockets. */
  http2Cleartext?: boolean;
  /** `--http2-node-apps`: a node app gets HTTP/2 too. */
  http2NodeApps?: boolean;
}

/** What a server offers. */
export interface ProtocolPlan {
  /** HTTP/1.0 and 1.1 are served. */
  h1: boolean;
  /** On a cleartext socket, a connection opening with the HTTP/2 preface is served HTTP/2 (from trusted peers). */
  h2c: boolean;
  /**
   * On a TLS socket, the ALPN protocol ids to offer, in order of
   * preference (`h2`, `http/1.1`); empty when HTTP/2 is not offered there.
   */
  alpn: string[];
  /** The protocols served on cleartext sockets, as logged (`HTTP/1.1`, `h2c`). */
  served: string[];
  /** One line for the boot log: what is served, and why HTTP/2 is not when it was asked for. */
  summary: string;
}

/**
 * The plan for an app of interface `kind`. `tls`: whether the sockets
 * are TLS (then h2 is offered through ALPN; `--http2-cleartext` is moot).
 */
export function planProtocols(kind: InterfaceName, o: ProtocolOptions, tls = false): ProtocolPlan {
  const wanted = o.httpProtocols ?? ['h1'];
  const h2Asked = wanted.includes('h2');
  // Node apps get Node's HTTP/2 compatibility (req, res), which Express and most frameworks do not support.
  const h2Allowed = h2Asked && (kind !== 'node' || o.http2NodeApps === true);
  const h2c = !tls && h2Allowed && o.http2Cleartext === true;
  // With nothing else to speak (h2 alone, and h2 not possible here), HTTP/1.x is served rather than nothing.
  const h1 = wanted.includes('h1') || !(tls ? h2Allowed : h2c);
  const alpn = tls ? wanted.filter((p) => p === 'h1' || h2Allowed).map((p) => (p === 'h2' ? 'h2' : 'http/1.1')) : [];
  if (tls && alpn.length === 0) alpn.push('http/1.1');
  const served = tls ? alpn.map((p) => (p === 'h2' ? 'h2' : 'HTTP/1.1')) : [...(h1 ? ['HTTP/1.1'] : []), ...(h2c ? ['h2c'] : [])];
  let why = '';
  if (h2Asked && !h2Allowed) why = ': HTTP/2 is not served to a node app (Express and most node:http frameworks do not support Node\'s HTTP/2 compatibility API; --http2-node-apps opts in)';
  else if (h2Asked && !tls && !h2c) why = ': h2 needs TLS (ALPN) or --http2-cleartext';
  else if (!wanted.includes('h1') && h1) why = ': h2 is not possible here, so HTTP/1.x is served instead';
  const how = h2c ? ' (h2c by prior knowledge, from --forwarded-allow-ips peers)' : '';
  const summary = `serving ${served.join(' and ')}${served.length === 1 && why !== '' ? ' only' : ''}${how}${why}`;
  return { h1, h2c, alpn, served, summary };
}
