/**
 * The worker's half of TLS: it asks the master for the key and certificates
 * (which the master read: src/master/tls.ts) and turns them and the TLS
 * settings into the options of Node's own TLS server. `https.Server` is an
 * `http.Server` (src/worker/http-worker.ts keeps its HTTP layer as it is);
 * the options are plain `tls.TlsOptions`, so any TLS server Node has can
 * take them.
 *
 * @module
 */
import type { TlsOptions } from 'node:tls';
import type { Config } from '../config/settings.js';
import type { TlsMaterial } from '../ipc/protocol.js';
import { onMasterMessage, sendToMaster } from './channel.js';

/** The settings {@link tlsServerOptions} reads. */
export type TlsServerSettings = Pick<Config, 'certReqs' | 'ciphers' | 'tlsMinVersion'> & {
  /** --headers-timeout, seconds: the handshake is part of getting a request's head (0: Node's 120 s). */
  headersTimeout?: number;
};

/**
 * The options of a worker's TLS server. `--cert-reqs`: `required` makes
 * OpenSSL refuse a client without a certificate in the handshake (Node sets
 * `SSL_VERIFY_FAIL_IF_NO_PEER_CERT` with `rejectUnauthorized`) and Node
 * close one whose certificate does not verify; `optional` asks for one and
 * lets a client send none, and the worker closes a connection whose
 * certificate does not verify, as Python's `CERT_OPTIONAL` (gunicorn's)
 * fails its handshake.
 */
export function tlsServerOptions(material: TlsMaterial, settings: TlsServerSettings): TlsOptions {
  const headersTimeout = settings.headersTimeout ?? 0;
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca === undefined ? {} : { ca: material.ca }),
    ...(settings.ciphers === '' ? {} : { ciphers: settings.ciphers }),
    minVersion: settings.tlsMinVersion,
    requestCert: settings.certReqs !== 'none',
    rejectUnauthorized: settings.certReqs === 'required',
    // The workers of a generation share the ticket keys, so that a client resumes its session on whichever worker the kernel gives it.
    ...(material.ticketKeys === undefined ? {} : { ticketKeys: Buffer.from(material.ticketKeys, 'base64') }),
    // A client that opens a connection and never finishes the handshake is a slowloris before the headers.
    ...(headersTimeout > 0 ? { handshakeTimeout: headersTimeout * 1000 } : {}),
  };
}

/**
 * Asks the master for the TLS material (`gwserver:tls-request`) and waits
 * for its answer. Rejects after `timeoutMs` (a master that never answers
 * is not one this worker can serve for).
 */
export function requestTlsMaterial(timeoutMs = 10_000): Promise<TlsMaterial> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`the master did not send the TLS key and certificates within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const off = onMasterMessage('gwserver:tls', (m) => {
      clearTimeout(timer);
      off();
      if (m.tls === null) reject(new Error('the master has no TLS key and certificates (--certfile) for this worker'));
      else resolve(m.tls);
    });
    sendToMaster({ act: 'gwserver:tls-request' });
  });
}
