/**
 * Content codings, shared by the compression middleware (which encodes on
 * the fly) and the static files app (which serves `.br`/`.gz`/`.zst`
 * siblings): which codings this Node can produce, what a request's
 * `Accept-Encoding` accepts and in which order, and which media types are
 * worth compressing.
 *
 * @module
 */
import zlib from 'node:zlib';
import db from 'mime-db';

/** A content coding gwserver can produce or serve: brotli, gzip, and zstd where Node has it. */
export type Coding = 'br' | 'gzip' | 'zstd';

/** Whether this Node's zlib has zstd (`zlib.createZstdCompress`, Node 22.15 and 23.8 onwards). */
export const HAS_ZSTD = typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function';

/** Every coding this process can produce, in gwserver's order of preference when a client likes several equally. */
export const CODINGS: readonly Coding[] = HAS_ZSTD ? ['br', 'zstd', 'gzip'] : ['br', 'gzip'];

/** The file name suffix of a precompressed sibling, by coding. */
export const SUFFIX: Readonly<Record<Coding, string>> = { br: '.br', gzip: '.gz', zstd: '.zst' };

// RFC 9110 12.4.2: a qvalue is 0 to 1 with at most three decimals.
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * The codings a request accepts, with their weights, from its
 * `Accept-Encoding` (RFC 9110 12.5.3): names lower-cased, `x-gzip` read as
 * `gzip`, `*` kept as it is. An element with a malformed weight is left out
 * (better to send a coding too few than one the client refused); the first
 * mention of a coding counts. Undefined when the request has no
 * Accept-Encoding at all.
 */
export function parseAcceptEncoding(header: string | undefined): Map<string, number> | undefined {
  if (header === undefined) return undefined;
  const out = new Map<string, number>();
  for (const element of header.split(',')) {
    const parts = element.split(';');
    let name = parts[0]!.trim().toLowerCase();
    if (name === '') continue;
    if (name === 'x-gzip') name = 'gzip';
    let q = 1;
    let valid = true;
    for (let i = 1; i < parts.length; i++) {
      const param = parts[i]!.trim();
      const eq = param.indexOf('=');
      if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'q') continue;
      const value = param.slice(eq + 1).trim();
      if (!QVALUE.test(value)) valid = false;
      else q = Number(value);
    }
    if (valid && !out.has(name)) out.set(name, q);
  }
  return out;
}

/**
 * The codings of `offered` that the request accepts, best first: by the
 * client's weight, then in the order of `offered`. A coding the header does
 * not name takes the weight of `*`, if present; weight 0 refuses it. No
 * Accept-Encoding at all gives none: RFC 9110 allows any coding then, but
 * a client that says nothing is safest served as it asked, in identity.
 */
export function acceptedCodings<T extends string>(header: string | undefined, offered: readonly T[]): T[] {
  const accepts = parseAcceptEncoding(header);
  if (accepts === undefined || offered.length === 0) return [];
  const star = accepts.get('*');
  const weighed: Array<{ coding: T; q: number; rank: number }> = [];
  offered.forEach((coding, rank) => {
    const q = accepts.get(coding) ?? star ?? 0;
    if (q > 0) weighed.push({ coding, q, rank });
  });
  weighed.sort((a, b) => b.q - a.q || a.rank - b.rank);
  return weighed.map((w) => w.coding);
}

const COMPRESSIBLE_FALLBACK = /^text\/|\+(?:json|text|xml)$/;

/**
 * Whether a response of this Content-Type is worth compressing: what
 * mime-db marks compressible (JSON, JavaScript, SVG, wasm...), or else any
 * `text/*` and `+json`, `+xml`, `+text` type. `application/octet-stream`
 * (mime-db says yes) is left alone: it names unknown bytes, most often an
 * archive or media already compressed. Images, audio, video, fonts in
 * WOFF and archives are not.
 */
export function isCompressible(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (type === '' || type === 'application/octet-stream') return false;
  const known = (db as Record<string, { compressible?: boolean } | undefined>)[type]?.compressible;
  return known ?? COMPRESSIBLE_FALLBACK.test(type);
}
