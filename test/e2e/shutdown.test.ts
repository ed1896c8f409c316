import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopProc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { startSidecarProcess, twoOrgStack, type Started, type TwoOrgStack } from '../helpers/stack.js';
import { eventually } from '../helpers/http.js';

describe('shutdown: SIGTERM with a request in flight on a kept-alive connection', () => {
  let stack: TwoOrgStack;
  let sidecar: Started;

  beforeAll(async () => {
    stack = await twoOrgStack('shutdown');
    sidecar = await startSidecarProcess(stack.env, stack.args);
  });
  afterAll(async () => {
    await stopProc(sidecar.proc, 'SIGKILL');
    await stopProc(stack.emulator.proc);
  });

  it('answers the request, closes the connection after it, and exits 0 while the client stays connected', async () => {
    const { hostname, port } = new URL(sidecar.url);
    const body = JSON.stringify(validReport(0));
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));

    // Half the body, then SIGTERM: the request is in flight when the stop begins.
    socket.write(`POST /v1/reports HTTP/1.1\r\nHost: ${hostname}\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
    socket.write(body.slice(0, 100));
    await eventually(async () => (sidecar.proc.lines.length > 0 ? true : undefined));
    sidecar.proc.child.kill('SIGTERM');
    await sidecar.proc.waitFor((l) => l.includes('"stopping"'));
    socket.write(body.slice(100));

    await ended;
    expect(answer).toMatch(/^HTTP\/1\.1 202/);
    expect(answer.toLowerCase()).toContain('connection: close');
    const exit = await Promise.race([
      sidecar.proc.exited,
      new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 20_000)),
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
    socket.destroy();
  });
});
