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
