/**
 * Certificates for the TLS tests, made with the `openssl` command into a
 * directory: a CA, two server certificates it signed for 127.0.0.1 and
 * localhost (`server`, and `server2` for a swap), a client certificate it
 * signed, and a client certificate of another CA (`rogue`), which the
 * server must refuse.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/** Whether the `openssl` command runs here. */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A certificate and its key, as files. */
export interface CertFiles {
  cert: string;
  key: string;
}

export interface Certificates {
  /** The CA's certificate (clients trust it; --ca-certs for client certificates). */
  ca: string;
  server: CertFiles;
  server2: CertFiles;
  /** Subject `/C=US/O=Example/CN=client`, signed by the CA. */
  client: CertFiles;
  /** Signed by another CA. */
  rogue: CertFiles;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '3', '-subj', `/CN=gwserver test ${name}`]);
}

function issue(dir: string, ca: string, name: string, subject: string, ext: string): CertFiles {
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  const extFile = path.join(dir, `${name}.ext`);
  writeFileSync(extFile, `${ext}\n`);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '3', '-extfile', extFile]);
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
}

/** Makes the certificates in `dir` (about a second: five RSA keys). */
export function makeCertificates(dir: string): Certificates {
  makeCa(dir, 'ca');
  makeCa(dir, 'rogue-ca');
  const serverExt = 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth';
  const clientExt = 'extendedKeyUsage=clientAuth';
  return {
    ca: path.join(dir, 'ca.pem'),
    server: issue(dir, 'ca', 'server', '/CN=server one', serverExt),
    server2: issue(dir, 'ca', 'server2', '/CN=server two', serverExt),
    client: issue(dir, 'ca', 'client', '/C=US/O=Example/CN=client', clientExt),
    rogue: issue(dir, 'rogue-ca', 'rogue', '/CN=rogue', clientExt),
  };
}
