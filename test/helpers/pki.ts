import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePki, type PkiFiles } from '../../src/pki/certs.js';
import { DEMO_CLIENT_ORG, DEMO_SERVER_ORG } from '../../src/demo.js';

export const CLIENT_ORG = DEMO_CLIENT_ORG;
export const SERVER_ORG = DEMO_SERVER_ORG;

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `pcm-${prefix}-`));
}

/** A fresh CA, loopback server certificate and one client certificate per test organisation. */
export async function testPki(dir: string): Promise<PkiFiles> {
  return generatePki(join(dir, 'pki'), [
    { orgId: CLIENT_ORG, clientId: 'client-ss' },
    { orgId: SERVER_ORG, clientId: 'server-ss' },
  ]);
}
