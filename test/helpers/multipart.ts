/**
 * Builds multipart/form-data bodies for the tests, byte for byte, so that a
 * test can also build broken ones (truncated, bad part headers).
 */

export interface Part {
  name: string;
  value: string | Buffer;
  /** Makes the part a file. */
  filename?: string;
  type?: string;
}

export const BOUNDARY = '----gwserver-test-boundary-7MA4YWxkTrZu0gW';

/** The Content-Type header of a body made by {@link multipart}. */
export const MULTIPART_TYPE = `multipart/form-data; boundary=${BOUNDARY}`;

/** The head of one part (boundary line, headers, blank line). */
export function partHead(p: Omit<Part, 'value'>): string {
  const disposition = `form-data; name="${p.name}"${p.filename === undefined ? '' : `; filename="${p.filename}"`}`;
  const type = p.type ?? (p.filename === undefined ? undefined : 'application/octet-stream');
  return `--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\n${type === undefined ? '' : `Content-Type: ${type}\r\n`}\r\n`;
}

/** The closing delimiter. */
export const CLOSE = `\r\n--${BOUNDARY}--\r\n`;

/** A whole multipart body. */
export function multipart(parts: Part[]): Buffer {
  const out: Buffer[] = [];
  parts.forEach((p, i) => {
    if (i > 0) out.push(Buffer.from('\r\n'));
    out.push(Buffer.from(partHead(p)), Buffer.from(p.value));
  });
  out.push(Buffer.from(CLOSE));
  return Buffer.concat(out);
}

/**
 * Bodies the forms middleware refuses under the limits the tests' apps set
 * (test/fixtures/apps/forms.mjs: 5 fields of at most 100 bytes, names of
 * at most 200, 2 files of at most 1000 bytes, 6 parts), as
 * [what, body and its Content-Type, status, message]: the same table for
 * testClient (test/unit/middleware/test-client.test.ts) and a real
 * `gwserver -w 2` (test/integration/forms.test.ts).
 */
export const FORM_REFUSALS: ReadonlyArray<[string, () => [string | Buffer, string], number, RegExp]> = [
  ['too many urlencoded fields', () => [Array.from({ length: 6 }, (_, i) => `f${i}=1`).join('&'), 'application/x-www-form-urlencoded'], 413, /more than 5 fields/],
  ['too many multipart fields', () => [multipart(Array.from({ length: 6 }, (_, i) => ({ name: `f${i}`, value: '1' }))), MULTIPART_TYPE], 413, /more than 5 fields/],
  ['a field too long', () => [`name=${'x'.repeat(101)}`, 'application/x-www-form-urlencoded'], 413, /field "name" is longer than 100 bytes/],
  ['a field name too long', () => [`${'n'.repeat(300)}=1`, 'application/x-www-form-urlencoded'], 413, /field name is longer than 200 bytes/],
  ['an oversized file', () => [multipart([{ name: 'f', value: Buffer.alloc(1001, 1), filename: 'big.bin' }]), MULTIPART_TYPE], 413, /file "big.bin" is larger than 1000 bytes/],
  ['an oversized file after a good one', () => [multipart([{ name: 'a', value: 'ok', filename: 'a.txt' }, { name: 'f', value: Buffer.alloc(5000, 1), filename: 'big.bin' }]), MULTIPART_TYPE], 413, /file "big.bin" is larger than 1000 bytes/],
  ['too many files', () => [multipart([1, 2, 3].map((i) => ({ name: `f${i}`, value: 'x', filename: `${i}.txt` }))), MULTIPART_TYPE], 413, /more than 2 files/],
  ['too many parts', () => [multipart([1, 2, 3, 4, 5, 6, 7].map((i) => ({ name: `f${i}`, value: 'x', ...(i % 3 === 0 ? { filename: `${i}` } : {}) }))), MULTIPART_TYPE], 413, /more than 6 parts/],
  ['a truncated multipart body (no closing boundary)', () => [Buffer.concat([Buffer.from(partHead({ name: 'f', filename: 'a.txt' })), Buffer.alloc(500, 2)]), MULTIPART_TYPE], 400, /malformed body: Unexpected end of (form|file)/],
  ['a malformed part header', () => [`--${MULTIPART_TYPE.split('boundary=')[1]}\r\nContent-Disposition form-data\r\nbroken\r\n\r\nx${CLOSE}`, MULTIPART_TYPE], 400, /malformed/],
  ['multipart without a boundary', () => ['x', 'multipart/form-data'], 400, /bad Content-Type: Multipart: Boundary not found/],
];
