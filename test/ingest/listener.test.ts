import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { CLIENT_ORG, tempDir } from '../helpers/pki.js';
import { adminSection } from '../helpers/admin.js';

/**
 * The ingest listener's timeouts and limits (PCM_INGEST_HEADERS_TIMEOUT_MS, _REQUEST_TIMEOUT_MS,
 * _KEEP_ALIVE_TIMEOUT_MS, _MAX_HEADER_BYTES, _MAX_CONNECTIONS): a slow, idle or greedy client is answered and closed,
 * and that is logged at debug, never as an error. Waits are bounds on outcomes, far above the configured timeouts.
 */

type Level = { level: number; msg: string; code?: string; component?: string };

async function sidecarWith(ingest: ConfigInput['ingest'], logs: Level[]): Promise<RunningSidecar> {
  const dir = await tempDir('listener');
  const config = configSchema.parse({
    ingest: { port: 0, ...ingest },
    admin: adminSection(dir),
    spool: { path: join(dir, 'spool.db') },
    pcm: { apiUrl: 'https://127.0.0.1:9', authUrl: 'https://127.0.0.1:9' },
    // Certificates that do not exist: the sender never sends.
    organisations: [{ orgId: CLIENT_ORG, clientId: 'c', certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none-key.pem') }],
  });
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Level) });
  return startSidecar(config, log);
}

interface Conn {
  socket: Socket;
  received(): string;
  closed: Promise<void>;
}

async function open(url: string): Promise<Conn> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, received: () => data, closed };
}

/** Resolves true when closed within `ms` (a generous bound, not a timing assertion). */
function closedWithin(conn: Conn, ms: number): Promise<boolean> {
  return Promise.race([conn.closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 50) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

/** Error lines of the ingest (the sender, with its missing certificates, has its own). */
const errorsIn = (logs: Level[]): Level[] => logs.filter((l) => l.level >= 50 && l.component === 'ingest');

describe('ingest listener: timeouts', () => {
  const logs: Level[] = [];
  let sidecar: RunningSidecar;

  beforeAll(async () => {
    sidecar = await sidecarWith({ headersTimeoutMs: 1000, requestTimeoutMs: 2000, keepAliveTimeoutMs: 1000, maxHeaderBytes: 4096 }, logs);
  });
  afterAll(async () => sidecar.stop(1000));

  it('a client sending its headers slowly is answered 408 and closed, logged at debug', async () => {
    const conn = await open(sidecar.ingestUrl);
    conn.socket.write('POST /v1/reports HTTP/1.1\r\nHost: ingest\r\nx-slow: ');
    // One more byte of a header value now and then, never the end of the headers; bounded, ends when the server closes.
    for (let i = 0; i < 150 && !conn.socket.destroyed; i++) {
      conn.socket.write('a');
      if (await closedWithin(conn, 100)) break;
    }
    expect(await closedWithin(conn, 1000)).toBe(true);
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408/);
    expect(logs.some((l) => l.level === 20 && l.code === 'ERR_HTTP_REQUEST_TIMEOUT')).toBe(true);
    expect(errorsIn(logs)).toEqual([]);
  });

  it('an idle connection that never sends a request is answered 408 and closed', async () => {
    const conn = await open(sidecar.ingestUrl);
    expect(await closedWithin(conn, 15_000)).toBe(true);
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408/);
  });

  it('a client that sends part of its body and then idles is answered 408 and closed; nothing is logged as an error', async () => {
    const conn = await open(sidecar.ingestUrl);
    conn.socket.write('POST /v1/reports HTTP/1.1\r\nHost: ingest\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"role":');
    expect(await closedWithin(conn, 15_000)).toBe(true);
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408/);
    // The handler's read of the body ends with the connection: that is the client's doing, logged at debug.
    expect(await until(() => logs.some((l) => l.level === 20 && /went away/.test(l.msg)), 5000)).toBe(true);
    expect(errorsIn(logs)).toEqual([]);
  });

  it('a client that aborts while sending its body is logged at debug, not as "ingest failed"', async () => {
    const before = logs.filter((l) => /went away/.test(l.msg)).length;
    const conn = await open(sidecar.ingestUrl);
    conn.socket.write('POST /v1/reports HTTP/1.1\r\nHost: ingest\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"role":');
    await new Promise((resolve) => setTimeout(resolve, 100));
    conn.socket.resetAndDestroy();
    expect(await until(() => logs.filter((l) => /went away/.test(l.msg)).length > before, 5000)).toBe(true);
    expect(logs.filter((l) => l.msg === 'ingest failed')).toEqual([]);
    expect(errorsIn(logs)).toEqual([]);
  });

  it('headers over the configured size are answered 431', async () => {
    const conn = await open(sidecar.ingestUrl);
    conn.socket.write(`GET /healthz HTTP/1.1\r\nHost: ingest\r\nx-big: ${'a'.repeat(8000)}\r\n\r\n`);
    expect(await closedWithin(conn, 15_000)).toBe(true);
    expect(conn.received()).toMatch(/^HTTP\/1\.1 431/);
  });

  it('a kept-alive connection left idle is closed after the keep-alive timeout', async () => {
    const conn = await open(sidecar.ingestUrl);
    conn.socket.write('GET /healthz HTTP/1.1\r\nHost: ingest\r\nConnection: keep-alive\r\n\r\n');
    expect(await until(() => conn.received().includes('"ok"'), 5000)).toBe(true);
    expect(conn.received()).toMatch(/^HTTP\/1\.1 200/);
    expect(await closedWithin(conn, 15_000)).toBe(true);
  });
});

describe('ingest listener: connection limit', () => {
  const logs: Level[] = [];
  let sidecar: RunningSidecar;

  beforeAll(async () => {
    sidecar = await sidecarWith({ maxConnections: 2, headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 }, logs);
  });
  afterAll(async () => sidecar.stop(1000));

  it('a connection past PCM_INGEST_MAX_CONNECTIONS is closed on arrival; those within it are served', async () => {
    const holders = [await open(sidecar.ingestUrl), await open(sidecar.ingestUrl)];
    const extra = await open(sidecar.ingestUrl);
    expect(await closedWithin(extra, 15_000)).toBe(true);
    expect(extra.received()).toBe('');
    for (const h of holders) expect(h.socket.destroyed).toBe(false);
    holders[0]!.socket.write('GET /healthz HTTP/1.1\r\nHost: ingest\r\nConnection: close\r\n\r\n');
    expect(await closedWithin(holders[0]!, 15_000)).toBe(true);
    expect(holders[0]!.received()).toMatch(/^HTTP\/1\.1 200/);
    holders[1]!.socket.destroy();
    expect(errorsIn(logs)).toEqual([]);
  });
});
