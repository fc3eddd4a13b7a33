/**
 * A throwaway certificate authority for the interop suite, made with the `openssl` command line at test time: a CA
 * certificate, and a server certificate for `127.0.0.1` signed by it (P-256 keys, valid one day). Resource servers
 * under test trust the CA file and nothing else about it; the keys never leave the run's temporary directory.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Paths of the PEM files the CA and the proxy use. */
export interface TestCa {
  /** The CA certificate: what a resource server trusts. */
  readonly caCert: string;
  /** The server certificate (subjectAltName IP:127.0.0.1) and its private key, for the TLS proxy. */
  readonly serverCert: string;
  readonly serverKey: string;
}

function openssl(args: string[], cwd: string): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (result.error) throw new Error(`openssl: ${result.error.message} (is it installed? apt-get install openssl)`);
  if (result.status !== 0) throw new Error(`openssl ${args[0]} failed (${result.status}): ${result.stderr}`);
}

/** Creates the CA and the `127.0.0.1` server certificate in `dir`. */
export function createTestCa(dir: string): TestCa {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=Tokenwarden interop test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], dir);
  writeFileSync(
    join(dir, 'server.ext'),
    [
      'subjectAltName=IP:127.0.0.1',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.crt',
      '-days',
      '1',
      '-extfile',
      'server.ext',
    ],
    dir,
  );
  // Apache reads the key as the user that starts it; everything else must be readable by the user its workers
  // run as (mod_auth_openidc's libcurl opens the CA file at request time).
  chmodSync(join(dir, 'ca.key'), 0o600);
  chmodSync(join(dir, 'server.key'), 0o600);
  chmodSync(join(dir, 'ca.pem'), 0o644);
  chmodSync(join(dir, 'server.crt'), 0o644);
  return { caCert: join(dir, 'ca.pem'), serverCert: join(dir, 'server.crt'), serverKey: join(dir, 'server.key') };
}
