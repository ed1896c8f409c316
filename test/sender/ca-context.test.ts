import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caContext, loadCa } from '../../src/sender/credentials.js';
import type { PkiFiles } from '../../src/pki/certs.js';
import { tempDir, testPki } from '../helpers/pki.js';

/** Whether a TLS handshake with `port` verifies under `context` (the server's name is `localhost`). */
function verifies(port: number, context: ReturnType<typeof caContext>): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', secureContext: context, rejectUnauthorized: true });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('caContext: one secure context per CA bundle, shared by the lanes', () => {
  let old: PkiFiles;
  let rotated: PkiFiles;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    old = await testPki(await tempDir('ca-old'));
    rotated = await testPki(await tempDir('ca-new'));
    // The PCM's certificate is now signed by the rotated CA.
    server = createServer({ cert: await readFile(rotated.serverCert), key: await readFile(rotated.serverKey) }, (_req, res) => res.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));

  it('gives the same context for the same bytes, read twice, and a new one for a rotated CA file', async () => {
    const first = caContext(loadCa(old.caCert));
    expect(caContext(loadCa(old.caCert))).toBe(first);
    const next = caContext(loadCa(rotated.caCert));
    expect(next).not.toBe(first);
    // The context of the bytes read again verifies what they say: the rotated CA, not the one cached before it.
    expect(await verifies(port, next)).toBe(true);
    expect(await verifies(port, first)).toBe(false);
  });

  it('keeps the four newest bundles: a newer one evicts the oldest, which is built again when asked for', async () => {
    const bundles = await Promise.all([1, 2, 3, 4, 5].map(async (n) => testPki(await tempDir(`ca-${n}`))));
    const first = caContext(loadCa(bundles[0]?.caCert));
    const later = bundles.slice(1).map((pki) => caContext(loadCa(pki.caCert)));
    // The four newest are all kept (a cache of one or two would have lost the earlier ones)…
    bundles.slice(1).forEach((pki, i) => expect(caContext(loadCa(pki.caCert))).toBe(later[i]));
    // …and the oldest went: asked for again, it is built again.
    expect(caContext(loadCa(bundles[0]?.caCert))).not.toBe(first);
  });

  it('without a CA file, Node’s roots only: the test CA is not trusted', async () => {
    expect(caContext(undefined)).toBe(caContext(undefined));
    expect(await verifies(port, caContext(undefined))).toBe(false);
  });
});
