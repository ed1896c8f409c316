import { readFileSync } from 'node:fs';
import { hash } from 'node:crypto';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { CredentialError } from '../errors.js';
import type { Organisation } from '../config/schema.js';

/** The TLS client identity of one organisation, read from its PEM files and checked to form a usable pair. */
export interface ClientCredential {
  orgId: string;
  clientId: string;
  cert: Buffer;
  key: Buffer;
  passphrase: string | undefined;
}

export function readPem(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file does not exist' : 'file cannot be read';
    throw new CredentialError(setting, `${reason}: ${file}`, { cause: err });
  }
}

/** Names the setting as the operator wrote it; the first organisation is the one PCM_* variables fill. */
export function settingName(index: number, field: 'certFile' | 'keyFile'): string {
  const env = field === 'certFile' ? 'PCM_CERT_FILE' : 'PCM_KEY_FILE';
  return index === 0 ? `${env} (organisations[0].${field})` : `organisations[${index}].${field}`;
}

export function loadClientCredential(org: Organisation, index: number): ClientCredential {
  // The schema asks for both (and the client_id) unless the sidecar forwards, and then no lane loads them.
  if (org.certFile === undefined || org.keyFile === undefined || org.clientId === undefined) {
    throw new CredentialError(settingName(index, 'certFile'), 'no certificate, key and client_id configured for this organisation');
  }
  const cert = readPem(settingName(index, 'certFile'), org.certFile);
  const key = readPem(settingName(index, 'keyFile'), org.keyFile);
  try {
    // Fails on a malformed PEM, a wrong passphrase, or a key that does not match the certificate.
    createSecureContext({ cert, key, passphrase: org.keyPassphrase });
  } catch (err) {
    throw new CredentialError(
      `${settingName(index, 'certFile')} / ${settingName(index, 'keyFile')}`,
      `not a usable certificate and key pair: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return { orgId: org.orgId.toLowerCase(), clientId: org.clientId, cert, key, passphrase: org.keyPassphrase };
}

export function loadCa(file: string | undefined): Buffer | undefined {
  if (!file) return undefined;
  const ca = readPem('PCM_CA_FILE (pcm.caFile)', file);
  try {
    createSecureContext({ ca });
  } catch (err) {
    throw new CredentialError('PCM_CA_FILE (pcm.caFile)', `not a PEM CA bundle: ${(err as Error).message}`, { cause: err });
  }
  // Node's `ca` replaces the bundled roots: keep them, so the file adds a CA rather than becoming the only one.
  return Buffer.concat([Buffer.from(`${rootCertificates.join('\n')}\n`), ca]);
}

/**
 * Secure contexts that only verify the PCM (no client certificate), one per CA bundle: parsing Node's roots plus
 * PCM_CA_FILE took ~55 ms of CPU here (twice that under load), and every lane's report client and reconciler would otherwise do it at start.
 * Keyed by the bundle's bytes, so a rotated CA file read again gets a context of its own.
 */
const caContexts = new Map<string, SecureContext>();
/** Bundles kept at most: a CA rotates a few times a year; the oldest context goes first. */
const MAX_CA_CONTEXTS = 4;

export function caContext(ca: Buffer | undefined): SecureContext {
  const key = ca === undefined ? '' : hash('sha256', ca, 'hex');
  let context = caContexts.get(key);
  if (context === undefined) {
    context = createSecureContext({ ca });
    if (caContexts.size >= MAX_CA_CONTEXTS) caContexts.delete(caContexts.keys().next().value as string);
    caContexts.set(key, context);
  }
  return context;
}
