/**
 * The checks every request passes before any app sees it, whatever its
 * interface (gateway, node, fetch): gunicorn's request limits, the framing
 * of the body, and the request id a client may give.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';

/** The request limits (gunicorn's `--limit-request-*`); 0 turns one off. */
export interface RequestLimits {
  limitLine: number;
  limitFields: number;
  limitFieldSize: number;
  limitBody: number;
}

/** The reason phrases of gwserver's own answers (RFC 9110's, where Node 20's STATUS_CODES still has older ones). */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  403: 'Forbidden',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

/** A request id taken from a client: short, and nothing that could break a log line. */
export const VALID_REQUEST_ID = /^[A-Za-z0-9\-_.:+=/@~]{1,200}$/;

/**
 * A valid Host field value (RFC 9112 3.2, RFC 3986 3.2.2): an IP literal in
 * brackets or a reg-name (unreserved, pct-encoded, sub-delims), then an
 * optional port. Empty is valid (a request target without authority).
 */
const HOST = /^(?:\[[0-9A-Za-z:.\-_~!$&'()*+,;=%]+\]|[0-9A-Za-z.\-_~!$&'()*+,;=%]*)(?::[0-9]*)?$/;

/** The request line, the header limits and the Host field: the error to answer with, or undefined. */
export function checkLimits(req: IncomingMessage, s: RequestLimits): GatewayError | undefined {
  if (s.limitLine > 0 && req.method!.length + req.url!.length + 10 > s.limitLine) {
    return new GatewayError('GW_REQUEST_LINE_TOO_LONG', `the request line is longer than ${s.limitLine} bytes (--limit-request-line)`);
  }
  const raw = req.rawHeaders;
  if (s.limitFields > 0 && raw.length > s.limitFields * 2) {
    return new GatewayError('GW_HEADERS_TOO_LARGE', `more than ${s.limitFields} header fields (--limit-request-fields)`);
  }
  const limit = s.limitFieldSize > 0 ? s.limitFieldSize : Infinity;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // gunicorn counts the whole field line, CRLF included.
    if (name.length + raw[i + 1]!.length + 4 > limit) {
      return new GatewayError('GW_HEADERS_TOO_LARGE', `a header field is longer than ${s.limitFieldSize} bytes (--limit-request-field-size)`);
    }
    if (name.length === 4 && (name === 'Host' || name.toLowerCase() === 'host')) {
      // RFC 9112 3.2: more than one Host, or an invalid one, is a 400.
      if (++hosts > 1) return new GatewayError('GW_BAD_REQUEST', 'more than one Host header field');
      if (!HOST.test(raw[i + 1]!)) return new GatewayError('GW_BAD_REQUEST', 'the Host header field is not a valid host[:port]');
    }
  }
  return undefined;
}

/** A request of node:http2's compatibility API: its stream knows whether a body follows. */
type Http2Request = IncomingMessage & { stream?: { endAfterHeaders: boolean } };

/**
 * The length of the request body: a number when it is declared (0 when
 * there is none), undefined when it is chunked; or the error to answer with
 * (Node has already refused a Content-Length beside Transfer-Encoding, and
 * Content-Lengths that disagree).
 */
export function bodyLength(req: IncomingMessage, limitBody: number): number | undefined | GatewayError {
  let length: number | undefined = 0;
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) {
    // RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
    if (req.httpVersionMinor === 0) {
      return new GatewayError('GW_BAD_REQUEST', 'Transfer-Encoding is not allowed in an HTTP/1.0 request');
    }
    // RFC 9112 6.3: a request whose final coding is not chunked cannot be framed.
    if (!/(?:^|,)[ \t]*chunked[ \t]*$/i.test(te)) {
      return new GatewayError('GW_BAD_REQUEST', 'Transfer-Encoding must end with chunked');
    }
    length = undefined;
  } else {
    const cl = req.headers['content-length'];
    if (cl !== undefined) length = Number(cl);
    // HTTP/2 frames a body by its stream (RFC 9113 8.1): one may come
    // without a Content-Length, unless the HEADERS frame ended the stream.
    else if (req.httpVersionMajor === 2 && (req as Http2Request).stream?.endAfterHeaders === false) length = undefined;
  }
  if (length !== undefined && limitBody > 0 && length > limitBody) {
    return new GatewayError('GW_BODY_TOO_LARGE', `the declared body of ${length} bytes is over the limit of ${limitBody}`);
  }
  return length;
}
