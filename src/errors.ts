/**
 * Every error gwserver raises on purpose: a stable code, the HTTP status it
 * maps to when it concerns a request, and a message meant for the person who
 * has to act on it. Handlers read `err.status` and `err.code`; they never
 * walk an instanceof ladder.
 *
 * @module
 */

/** Codes of the errors gwserver raises, with their HTTP status (0: not a request error). */
export const ERROR_CODES = {
  /** The app broke the gateway contract (bad status, bad header, write after end...). */
  GW_APP_CONTRACT: 500,
  /** The request is malformed. */
  GW_BAD_REQUEST: 400,
  /** The request body is larger than `--limit-request-body`. */
  GW_BODY_TOO_LARGE: 413,
  /** The request line is longer than `--limit-request-line`. */
  GW_REQUEST_LINE_TOO_LONG: 414,
  /** Too many header fields, or one too large. */
  GW_HEADERS_TOO_LARGE: 431,
  /** The client took longer than `--headers-timeout` / `--request-timeout` to send its request. */
  GW_REQUEST_TIMEOUT: 408,
  /** The app sent no response headers within `--response-timeout`: the client got 503. */
  GW_RESPONSE_TIMEOUT: 503,
  /** The request body is of a type the receiving code does not take (a form parser given JSON). */
  GW_UNSUPPORTED_MEDIA_TYPE: 415,
  /** The client closed the connection or sent fewer body bytes than it declared. */
  GW_CLIENT_GONE: 400,
  /** A second read of `wsgi.input` started while one was pending. */
  GW_CONCURRENT_READ: 500,
  /** MODULE:CALLABLE could not be loaded. */
  GW_APP_LOAD: 0,
  /** A command-line flag or config value is invalid. */
  GW_CONFIG: 0,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Base class of gwserver's own errors. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERROR_CODES[code];
  }
}

/** The app broke a rule of the gateway contract. */
export function contractError(message: string): GatewayError {
  return new GatewayError('GW_APP_CONTRACT', message);
}
