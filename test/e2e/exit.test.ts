import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PkiFiles } from '../../src/pki/certs.js';
import { trackChild } from '../helpers/children.js';
import { CLIENT_ORG, tempDir, testPki } from '../helpers/pki.js';
import { CLI } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';

/**
 * Shutdown always ends in an exit, and a closed stdout ends a command quietly (issue #8): whatever the reader of
 * stdout does (gone, or not reading), whatever the PCM does (never answering), a signal ends the process within its
 * grace; a second signal ends it at once.
 */

interface Child {
  child: ChildProcess;
  /** stdout as read so far (until the test stops reading it). */
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running: Child[] = [];

function startCliRaw(args: string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child, ['pcm-sidecar', ...args]);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const started: Child = { child, stdout: () => out, stderr: () => err, exited };
  running.push(started);
  return started;
}

/** The exit, or 'still running' after `ms` (a bound on the wait, not a timing assertion). */
function exitWithin(c: Child, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'still running'> {
  return Promise.race([c.exited, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), ms))]);
}

async function until<T>(check: () => T | undefined | false, what: string, c: Child, ms = 30_000): Promise<T> {
  for (let waited = 0; waited < ms; waited += 50) {
    const value = check();
    if (value) return value;
    if (c.child.exitCode !== null || c.child.signalCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not happen; stdout:\n${c.stdout().slice(-2000)}\nstderr:\n${c.stderr().slice(-2000)}`);
}

/** The ingest URL from the "accepting reports" log line. */
async function ingestUrlOf(c: Child): Promise<string> {
  return until(() => /"ingestUrl":"([^"]+)"/.exec(c.stdout())?.[1], 'the ingest URL log line', c);
}

/** Stops reading the child's stdout: `destroy` closes our end (the reader is gone), `pause` keeps it open unread. */
function stopReading(c: Child, how: 'destroy' | 'pause'): void {
  if (how === 'destroy') c.child.stdout!.destroy();
  else c.child.stdout!.pause();
}

/**
 * Requests whose refusal is logged with their (long) URL: about 2.5 MB of log lines, far more than a pipe holds,
 * so a reader that does not read leaves the child's stdout full.
 */
async function fillStdout(url: string): Promise<void> {
  const pad = 'p'.repeat(8000);
  for (let i = 0; i < 300; i++) {
    const res = await request(`${url}/v1/reports?fill=${i}-${pad}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1]' });
    await res.body.text();
  }
}

function portClosed(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(true));
  });
}

function stackIn(text: string): boolean {
  return /\n\s+at .+[:(]/.test(text) || /Unhandled|Error:/.test(text);
}

afterEach(async () => {
  for (const c of running.splice(0)) {
    if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await c.exited;
  }
});

describe('shutdown ends in an exit whatever stdout does', () => {
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await tempDir('exit');
    // Certificates that do not exist: the sender never sends; these tests are about the process, not the PCM.
    env = {
      PCM_API_URL: 'https://127.0.0.1:9',
      PCM_AUTH_URL: 'https://127.0.0.1:9',
      PCM_ORG_ID: CLIENT_ORG,
      PCM_CLIENT_ID: 'client-ss',
      PCM_CERT_FILE: join(dir, 'none.pem'),
      PCM_KEY_FILE: join(dir, 'none-key.pem'),
      PCM_INGEST_PORT: '0',
      PCM_ADMIN_HOST: '127.0.0.1',
      PCM_ADMIN_PORT: '0',
      PCM_SHUTDOWN_GRACE_MS: '10000',
    };
  });

  it('SIGTERM to `run` whose stdout reader has gone: exits 0', async () => {
    const c = startCliRaw(['run'], { ...env, PCM_SPOOL_PATH: join(dir, 'gone.db') });
    await ingestUrlOf(c);
    stopReading(c, 'destroy');
    c.child.kill('SIGTERM');
    expect(await exitWithin(c, 30_000)).toEqual({ code: 0, signal: null });
    expect(stackIn(c.stderr()), c.stderr()).toBe(false);
  });

  it('SIGTERM to `run` whose stdout reader does not read (a full pipe): exits 0', async () => {
    const c = startCliRaw(['run'], { ...env, PCM_SPOOL_PATH: join(dir, 'full.db') });
    const url = await ingestUrlOf(c);
    const seen = c.stdout().length;
    stopReading(c, 'pause');
    await fillStdout(url);
    c.child.kill('SIGTERM');
    expect(await exitWithin(c, 30_000)).toEqual({ code: 0, signal: null });
    // What the pipe held: the refusals were logged with their long URLs, so the pipe was full.
    const ended = new Promise((resolve) => c.child.stdout!.once('end', resolve));
    c.child.stdout!.resume();
    await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    // (If refusals stop being logged with their URL, fillStdout needs another way to fill the pipe.)
    expect(c.stdout().slice(seen), 'refusals logged with their long URLs').toContain('fill=0-ppp');
    expect(stackIn(c.stderr()), c.stderr()).toBe(false);
  });
});

describe('shutdown ends in an exit whatever the PCM does', () => {
  let dir: string;
  let pki: PkiFiles;
  let silent: Server;
  const held: Socket[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await tempDir('exit-pcm');
    pki = await testPki(dir);
    // A PCM (token and report host) that accepts connections and never says a word, not even TLS.
    silent = createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const { port } = silent.address() as { port: number };
    const client = pki.clients[CLIENT_ORG]!;
    env = {
      PCM_API_URL: `https://127.0.0.1:${port}`,
      PCM_AUTH_URL: `https://127.0.0.1:${port}`,
      PCM_CA_FILE: pki.caCert,
      PCM_ORG_ID: CLIENT_ORG,
      PCM_CLIENT_ID: 'client-ss',
      PCM_CERT_FILE: client.cert,
      PCM_KEY_FILE: client.key,
      PCM_INGEST_PORT: '0',
      PCM_ADMIN_HOST: '127.0.0.1',
      PCM_ADMIN_PORT: '0',
      PCM_MAX_BATCH_DELAY_MS: '0',
      // Nothing gives up on the silent PCM by itself during the test: only the shutdown can end the wait.
      PCM_CONNECT_TIMEOUT_MS: '600000',
      PCM_TOKEN_TIMEOUT_MS: '600000',
      PCM_EXPORT_TIMEOUT_MS: '600000',
    };
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  /** A `run` with a batch in flight to the silent PCM (its token request hangs). */
  async function withBatchInFlight(name: string, extra: Record<string, string>): Promise<{ c: Child; url: string }> {
    const connections = held.length;
    const c = startCliRaw(['run'], { ...env, PCM_SPOOL_PATH: join(dir, `${name}.db`), ...extra });
    const url = await ingestUrlOf(c);
    const res = await request(`${url}/v1/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(validReport(0)) });
    expect(res.statusCode).toBe(202);
    await res.body.text();
    await until(() => held.length > connections, 'a connection to the silent PCM', c);
    return { c, url };
  }

  it('the watchdog exits 1 when the orderly stop overruns PCM_SHUTDOWN_GRACE_MS', async () => {
    const { c } = await withBatchInFlight('watchdog', { PCM_SHUTDOWN_GRACE_MS: '2000' });
    c.child.kill('SIGTERM');
    const exit = await exitWithin(c, 30_000);
    expect(exit).not.toBe('still running');
    expect(exit).toMatchObject({ code: 1, signal: null });
    expect(c.stdout()).toContain('overran its grace period');
  });

  it('a second SIGTERM exits at once, even with a stdout nobody reads', async () => {
    const { c, url } = await withBatchInFlight('second', { PCM_SHUTDOWN_GRACE_MS: '600000' });
    stopReading(c, 'pause');
    await fillStdout(url);
    c.child.kill('SIGTERM');
    // The stop has begun once the listener is closed; the batch in flight holds it there.
    for (let i = 0; i < 200 && !(await portClosed(url)); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(c.child.exitCode).toBeNull();
    c.child.kill('SIGTERM');
    const exit = await exitWithin(c, 20_000);
    expect(exit).not.toBe('still running');
    expect(exit).toMatchObject({ code: 1, signal: null });
  });
});

describe('a closed stdout ends a command quietly', () => {
  it('`demo` whose reader closed after the first bytes (demo | head -c 100): exits 0, no stack', async () => {
    const dir = await tempDir('exit-demo');
    const c = startCliRaw(['demo', '--dir', dir, '--port', '0', '--emulator-port', '0', '--emulator-auth-port', '0'], {});
    const url = await ingestUrlOf(c);
    expect(c.stdout().length).toBeGreaterThanOrEqual(100);
    stopReading(c, 'destroy');
    // Something to write (the banner may have gone into the pipe already): a refused item is logged.
    const res = await request(`${url}/v1/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1]' }).catch(() => null);
    await res?.body.text();
    const exit = await exitWithin(c, 30_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(stackIn(c.stderr()), c.stderr()).toBe(false);
  });

  it('`catalog --json` with its reader gone before it writes: exits 0, no stack', async () => {
    const c = startCliRaw(['catalog', '--json'], {});
    stopReading(c, 'destroy');
    expect(await exitWithin(c, 30_000)).toEqual({ code: 0, signal: null });
    expect(stackIn(c.stderr()), c.stderr()).toBe(false);
  });
});
