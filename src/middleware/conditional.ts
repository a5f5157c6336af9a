/**
 * HTTP validators, conditional requests and byte ranges (RFC 9110 sections
 * 8.8, 13 and 14), as the static files app needs them: the ETag and
 * Last-Modified of a file, If-Match / If-Unmodified-Since (412),
 * If-None-Match / If-Modified-Since (304) in the RFC's order of
 * precedence, Range (one range, several, or none satisfiable) and If-Range.
 *
 * @module
 */
import type { Environ } from '../gateway/types.js';

/** An entity tag as sent: `"opaque"` or `W/"opaque"`. */
export type EntityTag = string;

/**
 * A strong ETag from a file's modification time (milliseconds) and size,
 * with the coding of a precompressed sibling appended so that each
 * representation has its own tag (RFC 9110 8.8.3). As nginx's, it changes
 * whenever the file is replaced or rewritten; two writes of the same size
 * in the same millisecond would share it.
 */
export function fileETag(mtimeMs: number, size: number, coding?: string): EntityTag {
  const base = `${Math.floor(mtimeMs).toString(16)}-${size.toString(16)}`;
  return coding === undefined ? `"${base}"` : `"${base}-${coding}"`;
}

/** Seconds since the epoch of a file time, as HTTP dates carry it (a second's resolution). */
export function httpSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/**
 * An HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms that
 * recipients must accept) in seconds since the epoch; undefined when it is
 * not a date.
 */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  // Date.parse takes all three forms, and much else: require the shape of one.
  if (!/^[A-Za-z]{3},? |^[A-Za-z]+, \d/.test(value.trim())) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

const TAG = /^\s*((?:W\/)?"[^"]*")\s*(?:,|$)/;

/**
 * The entity tags of an If-Match / If-None-Match value; `'*'` for a star.
 * Undefined when the value is malformed, which makes the condition false
 * (If-None-Match) or failing (If-Match): the request then gets the whole,
 * current representation or a 412, never a wrong 304.
 */
export function parseTagList(value: string): EntityTag[] | '*' | undefined {
  const trimmed = value.trim();
  if (trimmed === '*') return '*';
  const tags: EntityTag[] = [];
  let rest = trimmed;
  while (rest.length > 0) {
    if (rest.startsWith(',')) {
      // Empty list elements are allowed (RFC 9110 5.6.1).
      rest = rest.slice(1).trimStart();
      continue;
    }
    const m = TAG.exec(rest);
    if (m === null) return undefined;
    tags.push(m[1]!);
    rest = rest.slice(m[0].length).trimStart();
  }
  return tags.length > 0 ? tags : undefined;
}

const opaque = (tag: EntityTag) => (tag.startsWith('W/') ? tag.slice(2) : tag);

/** Strong comparison (RFC 9110 8.8.3.2): both strong, same characters. */
export function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.startsWith('W/') && !b.startsWith('W/') && a === b;
}

/** Weak comparison: the same opaque tag, whether either is weak or not. */
export function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return opaque(a) === opaque(b);
}

/** What a resource's validators are: its ETag and its Last-Modified in seconds, each optional. */
export interface Validators {
  etag: EntityTag | undefined;
  lastModified: number | undefined;
}

/**
 * Evaluates the preconditions of a GET or HEAD in the order of RFC 9110
 * 13.2.2: If-Match, else If-Unmodified-Since (412 when it fails); then
 * If-None-Match, else If-Modified-Since (304 when the client's copy is
 * current). 200 means: answer normally.
 */
export function evaluatePreconditions(environ: Environ, v: Validators): 200 | 304 | 412 {
  const ifMatch = environ.HTTP_IF_MATCH as string | undefined;
  if (ifMatch !== undefined) {
    const tags = parseTagList(ifMatch);
    // The file exists, so "*" holds; otherwise one tag must match strongly.
    const ok = tags === '*' || (tags !== undefined && v.etag !== undefined && tags.some((t) => strongMatch(t, v.etag!)));
    if (!ok) return 412;
  } else {
    const since = parseHttpDate(environ.HTTP_IF_UNMODIFIED_SINCE as string | undefined);
    if (since !== undefined && v.lastModified !== undefined && v.lastModified > since) return 412;
  }
  const ifNoneMatch = environ.HTTP_IF_NONE_MATCH as string | undefined;
  if (ifNoneMatch !== undefined) {
    const tags = parseTagList(ifNoneMatch);
    if (tags === '*') return 304;
    if (tags !== undefined && v.etag !== undefined && tags.some((t) => weakMatch(t, v.etag!))) return 304;
    return 200;
  }
  const since = parseHttpDate(environ.HTTP_IF_MODIFIED_SINCE as string | undefined);
  if (since !== undefined && v.lastModified !== undefined && v.lastModified <= since) return 304;
  return 200;
}

/**
 * Whether a Range request's If-Range (RFC 9110 13.1.5) lets the range
 * apply: an entity tag must match strongly, a date must equal
 * Last-Modified. Without If-Range the range applies.
 */
export function ifRangeHolds(environ: Environ, v: Validators): boolean {
  const value = environ.HTTP_IF_RANGE as string | undefined;
  if (value === undefined) return true;
  const trimmed = value.trim();
  if (trimmed.startsWith('"') || trimmed.startsWith('W/')) {
    return v.etag !== undefined && strongMatch(trimmed, v.etag);
  }
  const date = parseHttpDate(trimmed);
  return date !== undefined && v.lastModified !== undefined && date === v.lastModified;
}

/** A byte range, both ends included. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * What a Range header asks of a representation of `size` bytes (RFC 9110
 * 14.1.2): the satisfiable ranges, sorted and with overlapping or adjacent
 * ones merged (14.6 allows it, and it defuses requests for many
 * overlapping ranges); `'unsatisfiable'` when none is (416); undefined when
 * the header is to be ignored (another unit, a syntax error, more than
 * `maxRanges` ranges), which means the whole representation (200).
 */
export function parseRange(value: string, size: number, maxRanges = 100): ByteRange[] | 'unsatisfiable' | undefined {
  const eq = value.indexOf('=');
  if (eq < 0 || value.slice(0, eq).trim().toLowerCase() !== 'bytes') return undefined;
  const ranges: ByteRange[] = [];
  let specs = 0;
  for (const raw of value.slice(eq + 1).split(',')) {
    const spec = raw.trim();
    if (spec === '') continue;
    if (++specs > maxRanges) return undefined;
    const m = /^(\d*)-(\d*)$/.exec(spec);
    if (m === null || (m[1] === '' && m[2] === '')) return undefined;
    if (m[1] === '') {
      // A suffix: the last N bytes.
      const n = Number(m[2]);
      if (n > 0 && size > 0) ranges.push({ start: Math.max(0, size - n), end: size - 1 });
      continue;
    }
    const first = Number(m[1]);
    const last = m[2] === '' ? Infinity : Number(m[2]);
    if (last < first) return undefined;
    if (first < size) ranges.push({ start: first, end: Math.min(last, size - 1) });
  }
  if (specs === 0) return undefined;
  if (ranges.length === 0) return 'unsatisfiable';
  ranges.sort((a, b) => a.start - b.start);
  const merged: ByteRange[] = [ranges[0]!];
  for (let i = 1; i < ranges.length; i++) {
    const r = ranges[i]!;
    const top = merged[merged.length - 1]!;
    if (r.start <= top.end + 1) top.end = Math.max(top.end, r.end);
    else merged.push({ ...r });
  }
  return merged;
}
