/**
 * The master's half of TLS: it reads --certfile, --keyfile and --ca-certs
 * itself, checks them, and keeps their contents for the workers, which ask
 * for them over the IPC channel at boot (`gwserver:tls-request`,
 * src/ipc/protocol.ts). The files may so be readable by root alone while
 * the workers run as --user; and a HUP that reads them again hands the new
 * workers the new certificate while the old workers keep theirs until their
 * connections end.
 *
 * Everything that can be wrong with the files is found here, once, with a
 * message naming the setting and the file: at start it stops gwserver (one
 * line, exit 2), on HUP it is logged and the current material stays.
 *
 * @module
 */
import { createPrivateKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import type { Config } from '../config/settings.js';
import type { TlsMaterial } from '../ipc/protocol.js';

/** A TLS setting that cannot be served: the message is one line, naming the flag and the file. */
export class TlsSetupError extends Error {
  override name = 'TlsSetupError';
}

/** The certificate served, for the log. */
export interface CertificateSummary {
  subject: string;
  issuer: string;
  validFrom: string;
  validTo: string;
  /** SHA-256 fingerprint, `AB:CD:...`. */
  fingerprint256: string;
  /** Not valid now (expired, or not yet valid): worth a warning, not a refusal (a renewal may be on its way). */
  expired: boolean;
  notYetValid: boolean;
}

/** The settings this module reads. */
export type TlsSettings = Pick<Config, 'certfile' | 'keyfile' | 'caCerts' | 'certReqs' | 'ciphers' | 'tlsMinVersion'>;

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?-----END \1-----/g;

/** The PEM blocks of `text`, by label (`CERTIFICATE`, `PRIVATE KEY`...). */
function pemBlocks(text: string): Array<{ label: string; pem: string }> {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1]!, pem: m[0] }));
}

function readText(flag: string, file: string): string {
  try {
    return readFileSync(path.resolve(file), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new TlsSetupError(`cannot read ${flag} ${file}: ${why}${code !== undefined && !why.includes(code) ? ` (${code})` : ''}`);
  }
}

/** An OpenSSL message without its `error:0480006C:` prefix. */
function reason(err: unknown): string {
  return String((err as Error).message ?? err).replace(/^error:[0-9A-F]+:/, '');
}

function certificates(flag: string, file: string, text: string): X509Certificate[] {
  const blocks = pemBlocks(text).filter((b) => b.label === 'CERTIFICATE' || b.label === 'TRUSTED CERTIFICATE');
  if (blocks.length === 0) throw new TlsSetupError(`${flag} ${file} holds no PEM certificate (a "-----BEGIN CERTIFICATE-----" block)`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b.pem);
    } catch (err) {
      throw new TlsSetupError(`${flag} ${file}: certificate ${i + 1} cannot be parsed: ${reason(err)}`);
    }
  });
}

function privateKey(flag: string, file: string, text: string): { pem: string; key: KeyObject } {
  const block = pemBlocks(text).find((b) => b.label.endsWith('PRIVATE KEY'));
  if (block === undefined) {
    throw new TlsSetupError(flag === '--certfile'
      ? `--certfile ${file} holds no private key: name the key's file with --keyfile`
      : `--keyfile ${file} holds no PEM private key (a "-----BEGIN PRIVATE KEY-----" block)`);
  }
  if (block.label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type: 4,ENCRYPTED/.test(block.pem)) {
    throw new TlsSetupError(`${flag} ${file}: the key is encrypted with a passphrase, which gwserver does not take (write it decrypted, readable by root alone: openssl pkey -in KEY -out KEY.plain)`);
  }
  try {
    return { pem: block.pem, key: createPrivateKey(block.pem) };
  } catch (err) {
    throw new TlsSetupError(`${flag} ${file}: the private key cannot be parsed: ${reason(err)}`);
  }
}

/**
 * Reads and checks the TLS files of `config` (relative paths from the
 * current directory, which is --chdir's). Returns undefined when TLS is off
 * (no --certfile).
 *
 * @throws TlsSetupError: a file missing or unreadable, not PEM, a key that
 *   does not match the certificate or is encrypted, client certificates
 *   asked for without --ca-certs, a cipher list OpenSSL rejects, or a TLS
 *   setting given without --certfile.
 */
export function readTls(config: TlsSettings): { material: TlsMaterial; certificate: CertificateSummary } | undefined {
  if (config.certfile === '') {
    const stray = ([['keyfile', '--keyfile'], ['caCerts', '--ca-certs'], ['ciphers', '--ciphers']] as const).find(([k]) => config[k] !== '')?.[1]
      ?? (config.certReqs !== 'none' ? '--cert-reqs' : config.tlsMinVersion !== 'TLSv1.2' ? '--tls-min-version' : undefined);
    if (stray !== undefined) throw new TlsSetupError(`${stray} is set but TLS is off: name the server's certificate with --certfile`);
    return undefined;
  }
  const certText = readText('--certfile', config.certfile);
  const chain = certificates('--certfile', config.certfile, certText);
  const keyFlag = config.keyfile === '' ? '--certfile' : '--keyfile';
  const keyFile = config.keyfile === '' ? config.certfile : config.keyfile;
  const { pem: keyPem, key } = privateKey(keyFlag, keyFile, config.keyfile === '' ? certText : readText('--keyfile', config.keyfile));
  const leaf = chain[0]!;
  if (!leaf.checkPrivateKey(key)) {
    throw new TlsSetupError(`${keyFlag} ${keyFile} does not match the certificate in --certfile ${config.certfile} (the first certificate must be the server's own)`);
  }
  let ca: string | undefined;
  if (config.caCerts !== '') {
    const text = readText('--ca-certs', config.caCerts);
    ca = certificates('--ca-certs', config.caCerts, text).map((c) => c.toString()).join('');
  } else if (config.certReqs !== 'none') {
    throw new TlsSetupError(`--cert-reqs ${config.certReqs} needs --ca-certs: the CAs that sign your clients' certificates`);
  }
  const material: TlsMaterial = { cert: chain.map((c) => c.toString()).join(''), key: keyPem, ...(ca === undefined ? {} : { ca }), ticketKeys: randomBytes(48).toString('base64') };
  // What is left for OpenSSL to refuse: a cipher list that matches nothing, a key its security level forbids.
  try {
    tls.createSecureContext({ cert: material.cert, key: material.key, ...(ca === undefined ? {} : { ca }), minVersion: config.tlsMinVersion, ...(config.ciphers === '' ? {} : { ciphers: config.ciphers }) });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_SSL_NO_CIPHER_MATCH') throw new TlsSetupError(`--ciphers ${JSON.stringify(config.ciphers)} matches no cipher suite this Node.js (${process.versions.openssl === undefined ? 'OpenSSL' : `OpenSSL ${process.versions.openssl}`}) knows`);
    throw new TlsSetupError(`OpenSSL refuses the TLS settings (--certfile ${config.certfile}): ${reason(err)}`);
  }
  const now = Date.now();
  return {
    material,
    certificate: {
      subject: rfc2253(leaf.subject),
      issuer: rfc2253(leaf.issuer),
      validFrom: leaf.validFrom,
      validTo: leaf.validTo,
      fingerprint256: leaf.fingerprint256,
      expired: Date.parse(leaf.validTo) < now,
      notYetValid: Date.parse(leaf.validFrom) > now,
    },
  };
}

/** A name as Node prints it (a line per attribute) in RFC 2253's form, as the environ's `SSL_CLIENT_S_DN` (`rfc2253` in src/gateway/environ.ts, which the master does not load). */
function rfc2253(multiline: string): string {
  return multiline.split('\n').filter((l) => l !== '').reverse().join(',');
}
