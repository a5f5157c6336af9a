/**
 * A case-insensitive view over a response header list, like Python's
 * `wsgiref.headers.Headers`. It edits the very `[name, value]` array it was
 * given, so that the same array can be handed to `startResponse`; there is
 * nothing to convert back.
 *
 * Names and values are checked as they go in, with the same rules as
 * `startResponse`, so a bad header fails where it is set rather than when
 * the response starts. Hop-by-hop headers are not refused here: that is
 * `startResponse`'s call.
 *
 * @module
 */
import { contractError } from '../errors.js';
import { isToken } from './start-response.js';
import type { HeaderPair } from './types.js';

// RFC 9110 field-value characters within latin-1, as in start-response.ts: CR, LF and NUL
// could smuggle a header or a whole response; other controls go with them.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const ESCAPE_IN_QUOTES = /["\\]/g;

/** A parameter value for {@link Headers.addHeader}: text, or a bare flag (`null` as in wsgiref, or `true`). */
export type HeaderParam = string | null | true | undefined;

/**
 * A header list with case-insensitive lookups.
 *
 * @example
 * ```ts
 * const list: HeaderPair[] = [];
 * const headers = new Headers(list);
 * headers.set('Content-Type', 'text/plain; charset=utf-8');
 * headers.addHeader('Content-Disposition', 'attachment', { filename: 'report 2024.csv' });
 * startResponse('200 OK', list); // or headers.list
 * ```
 */
export class Headers implements Iterable<HeaderPair> {
  #list: HeaderPair[];

  /**
   * @param list - the header list to work on (edited in place); a new empty
   *   one when omitted. Its entries are checked like any inserted header.
   */
  constructor(list: HeaderPair[] = []) {
    if (!Array.isArray(list)) {
      throw contractError(`Headers: expected an array of [name, value] pairs, got ${describe(list)}`);
    }
    for (let i = 0; i < list.length; i++) {
      const h = list[i];
      if (!Array.isArray(h) || h.length !== 2) {
        throw contractError(`Headers: entry #${i} must be a [name, value] pair, got ${describe(h)}`);
      }
      check(h[0], h[1]);
    }
    this.#list = list;
  }

  /** The underlying header list: the array passed to the constructor. */
  get list(): HeaderPair[] {
    return this.#list;
  }

  /** The number of header lines (a repeated header counts once per line). */
  get length(): number {
    return this.#list.length;
  }

  /** The value of the first header called `name`, or `undefined`. */
  get(name: string): string | undefined {
    const key = name.toLowerCase();
    for (const [n, v] of this.#list) if (n.toLowerCase() === key) return v;
    return undefined;
  }

  /** The values of every header called `name`, in order (empty when none). */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    const out: string[] = [];
    for (const [n, v] of this.#list) if (n.toLowerCase() === key) out.push(v);
    return out;
  }

  /** Whether there is at least one header called `name`. */
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /**
   * Makes `value` the only value of `name`: the first header of that name
   * keeps its place and gets the new value, later ones are removed; when
   * there is none, the header is added at the end.
   */
  set(name: string, value: string): this {
    check(name, value);
    const key = name.toLowerCase();
    const list = this.#list;
    const first = list.findIndex(([n]) => n.toLowerCase() === key);
    if (first < 0) {
      list.push([name, value]);
      return this;
    }
    list[first] = [name, value];
    removeFrom(list, key, first + 1);
    return this;
  }

  /** Adds a header line, keeping any existing ones of the same name. */
  append(name: string, value: string): this {
    check(name, value);
    this.#list.push([name, value]);
    return this;
  }

  /** Removes every header called `name`; returns whether there was one. */
  delete(name: string): boolean {
    return removeFrom(this.#list, name.toLowerCase(), 0) > 0;
  }

  /**
   * Returns the first value of `name`; when there is none, adds the header
   * with `value` first and returns `value`.
   */
  setDefault(name: string, value: string): string {
    const current = this.get(name);
    if (current !== undefined) return current;
    this.append(name, value);
    return value;
  }

  /**
   * Adds a header with parameters, like wsgiref's `add_header`:
   * `addHeader('Content-Disposition', 'attachment', { filename: 'a b.txt' })`
   * adds `Content-Disposition: attachment; filename="a b.txt"`.
   *
   * A parameter whose value is `null` or `true` is written as a bare name;
   * `undefined` leaves it out. Other values are written as a token when they
   * are one and as a quoted-string (with `"` and `\` escaped) otherwise, per
   * RFC 9110 section 5.6.6. Values are latin-1; RFC 8187 `name*=` encoding is
   * not done here.
   *
   * `Set-Cookie` is the exception: its attributes follow RFC 6265, which has
   * no quoting (a browser ignores `Path="/"`), so their values are written
   * as they are, and one holding `;` is refused. {@link setCookie} builds the
   * whole header from typed options instead.
   *
   * @param value - the main value, or `null` for a header made only of parameters.
   */
  addHeader(name: string, value: string | null, params: Readonly<Record<string, HeaderParam>> = {}): this {
    if (value !== null && typeof value !== 'string') {
      throw contractError(`Headers: value of header ${JSON.stringify(name)} must be a string or null, got ${describe(value)}`);
    }
    const cookie = typeof name === 'string' && name.toLowerCase() === 'set-cookie';
    const parts: string[] = value === null ? [] : [value];
    for (const key of Object.keys(params)) {
      const v = params[key];
      if (v === undefined) continue;
      if (!isToken(key)) {
        throw contractError(`Headers: parameter name ${JSON.stringify(key)} of header ${JSON.stringify(name)} is not an HTTP token`);
      }
      if (v === null || v === true) {
        parts.push(key);
      } else if (typeof v !== 'string') {
        throw contractError(`Headers: parameter ${JSON.stringify(key)} of header ${JSON.stringify(name)} must be a string, null or true, got ${describe(v)}`);
      } else if (cookie) {
        // RFC 6265 section 4.1.1: an attribute value is any CHAR but CTLs and ";" (checked with the whole value below).
        if (v.includes(';')) {
          throw contractError(`Headers: attribute ${key} of Set-Cookie cannot hold ";" (RFC 6265 has no quoting); setCookie() encodes cookie values`);
        }
        parts.push(`${key}=${v}`);
      } else if (isToken(v)) {
        parts.push(`${key}=${v}`);
      } else {
        parts.push(`${key}="${v.replace(ESCAPE_IN_QUOTES, '\\$&')}"`);
      }
    }
    return this.append(name, parts.join('; '));
  }

  /** Header names in order, one per line (repeats included), as given. */
  keys(): string[] {
    return this.#list.map(([n]) => n);
  }

  /** Header values in order, one per line. */
  values(): string[] {
    return this.#list.map(([, v]) => v);
  }

  /** Copies of the `[name, value]` pairs, in order. */
  entries(): HeaderPair[] {
    return this.#list.map(([n, v]) => [n, v]);
  }

  /** Iterates copies of the `[name, value]` pairs, in order. */
  *[Symbol.iterator](): IterableIterator<HeaderPair> {
    for (const [n, v] of this.#list) yield [n, v];
  }

  /**
   * The header block as it goes on the wire: `Name: value` lines ending in
   * CRLF, then the blank line that ends the head (just CRLF when empty).
   */
  toString(): string {
    let out = '';
    for (const [n, v] of this.#list) out += `${n}: ${v}\r\n`;
    return `${out}\r\n`;
  }

  /** The pairs, for `JSON.stringify` (an array keeps order and repeats). */
  toJSON(): HeaderPair[] {
    return this.entries();
  }
}

function check(name: unknown, value: unknown): void {
  if (typeof name !== 'string') {
    throw contractError(`Headers: header name must be a string, got ${describe(name)}`);
  }
  if (!isToken(name)) {
    throw contractError(`Headers: header name ${JSON.stringify(name)} is not an HTTP token`);
  }
  if (typeof value !== 'string') {
    throw contractError(`Headers: value of header ${JSON.stringify(name)} must be a string, got ${describe(value)}`);
  }
  if (!FIELD_VALUE.test(value)) {
    throw contractError(`Headers: value of header ${JSON.stringify(name)} must be latin-1 text without CR, LF or NUL, got ${JSON.stringify(value)}`);
  }
}

/** Removes, in place, the entries from index `from` on whose lower-cased name is `key`. Returns how many. */
function removeFrom(list: HeaderPair[], key: string, from: number): number {
  let w = from;
  for (let r = from; r < list.length; r++) {
    const h = list[r]!;
    if (h[0].toLowerCase() !== key) list[w++] = h;
  }
  const removed = list.length - w;
  list.length = w;
  return removed;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}
