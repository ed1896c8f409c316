import { webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

/**
 * A throw-away PKI for the demo, the emulator and the tests: one CA, a server certificate for loopback, and one
 * client certificate per organisation with the organisationId as OU (as in Open Finance Brasil transport certificates).
 * ECDSA P-256 keeps generation in milliseconds.
 */

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface PkiOrganisation {
  orgId: string;
  clientId: string;
}

export interface PkiFiles {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clients: Record<string, { cert: string; key: string }>;
}

async function keyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const base64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN PRIVATE KEY-----\n${base64}\n-----END PRIVATE KEY-----\n`;
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  const notBefore = new Date(Date.now() - 60 * 60 * 1000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * 24 * 60 * 60 * 1000) };
}

/** Writes the PKI into `dir` (mode 0600 for keys) and returns the file paths. */
export async function generatePki(dir: string, organisations: readonly PkiOrganisation[], days = 30): Promise<PkiFiles> {
  await mkdir(dir, { recursive: true });
  const caKeys = await keyPair();
  const caName = 'CN=pcm-sidecar test CA, O=pcm-sidecar';
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: caName,
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    ...validity(days),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });

  async function issue(subject: string, usage: x509.ExtendedKeyUsage, san?: x509.JsonGeneralNames) {
    const keys = await keyPair();
    const cert = await x509.X509CertificateGenerator.create({
      subject,
      issuer: ca.subject,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ALGORITHM,
      ...validity(days),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([usage]),
        ...(san ? [new x509.SubjectAlternativeNameExtension(san)] : []),
      ],
    });
    return { cert: cert.toString('pem'), key: await privateKeyPem(keys.privateKey) };
  }

  const files: PkiFiles = {
    dir,
    caCert: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca-key.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server-key.pem'),
    clients: {},
  };
  await writeFile(files.caCert, ca.toString('pem'));
  await writeFile(files.caKey, await privateKeyPem(caKeys.privateKey), { mode: 0o600 });

  const server = await issue('CN=localhost, O=pcm-sidecar emulator', x509.ExtendedKeyUsage.serverAuth, [
    { type: 'dns', value: 'localhost' },
    { type: 'ip', value: '127.0.0.1' },
    { type: 'ip', value: '::1' },
  ]);
  await writeFile(files.serverCert, server.cert);
  await writeFile(files.serverKey, server.key, { mode: 0o600 });

  for (const org of organisations) {
    const client = await issue(`CN=${org.clientId}, OU=${org.orgId}, O=pcm-sidecar test`, x509.ExtendedKeyUsage.clientAuth);
    const cert = join(dir, `client-${org.orgId}.pem`);
    const key = join(dir, `client-${org.orgId}-key.pem`);
    await writeFile(cert, client.cert);
    await writeFile(key, client.key, { mode: 0o600 });
    files.clients[org.orgId] = { cert, key };
  }
  return files;
}
