import { readFile } from 'node:fs/promises';
import { connect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { ReportStore } from '../../src/emulator/store.js';
import { startInProcessEmulator } from '../helpers/stack.js';
import { tempDir, testPki } from '../helpers/pki.js';

/** The emulator can run a soak: its state has a bound, and its listeners close slow clients. */

describe('emulator bounds', () => {
  it('keeps at most maxReports reports, deleting the oldest down to 90 %', () => {
    const store = new ReportStore(':memory:', 100);
    try {
      for (let i = 0; i < 250; i++) {
        store.add([{ reportId: `r${i}`, stream: 'opendata', status: 'ACCEPTED', message: null, senderOrgId: null, receivedAt: i, report: { endpoint: `/e${i}` } }]);
      }
      const { data, total } = store.list({ offset: 0, limit: 1000 });
      expect(total).toBeLessThanOrEqual(100);
      expect(total).toBeGreaterThanOrEqual(90);
      expect(data.at(-1)?.reportId).toBe('r249');
      // The oldest went: what is kept is the newest, contiguous run.
      expect(data[0]?.reportId).toBe(`r${250 - total}`);
      expect(data.map((r) => Number(r.reportId.slice(1)))).toEqual(data.map((r) => Number(r.reportId.slice(1))).sort((a, b) => a - b));
    } finally {
      store.close();
    }
  });

  it('a reconcile pass looks only at reports not reconciled yet; an UNPAIRED one still pairs with a late counterpart', () => {
    const store = new ReportStore(':memory:');
    const fapi = (i: number): string => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    const client = (i: number) => ({ role: 'CLIENT', fapiInteractionId: fapi(i), endpoint: '/e', httpMethod: 'GET', timestamp: 't', statusCode: 200 });
    try {
      const at = (i: number, receivedAt: number) => ({ reportId: `r${i}`, stream: 'private' as const, status: 'ACCEPTED' as const, message: null, senderOrgId: null, receivedAt, report: client(i) });
      store.add(Array.from({ length: 1000 }, (_, i) => at(i, 1)));
      store.reconcile(10, 10);
      expect(store.lastExamined).toBe(1000);
      expect(store.list({ status: 'UNPAIRED', offset: 0, limit: 1 }).total).toBe(1000);
      // Later passes cost what arrived since, not the thousand left unpaired.
      store.reconcile(20, 20);
      expect(store.lastExamined).toBe(0);
      store.add([{ reportId: 's7', stream: 'private', status: 'ACCEPTED', message: null, senderOrgId: null, receivedAt: 30, report: { ...client(7), role: 'SERVER' } }]);
      store.reconcile(40, 40);
      // The new report and the UNPAIRED one of its id.
      expect(store.lastExamined).toBe(2);
      expect(store.list({ fapiInteractionId: fapi(7), offset: 0, limit: 5 }).data.map((r) => r.status)).toEqual(['PAIRED', 'PAIRED']);
      // A resend of the same role (two CLIENT reports of one id, both UNPAIRED) pairs too when the SERVER one comes.
      store.add([at(2000, 50)].map((r) => ({ ...r, reportId: 'c8a', report: client(5000) })));
      store.add([at(2001, 51)].map((r) => ({ ...r, reportId: 'c8b', report: client(5000) })));
      store.reconcile(60, 60);
      expect(store.list({ fapiInteractionId: fapi(5000), offset: 0, limit: 5 }).data.map((r) => r.status)).toEqual(['UNPAIRED', 'UNPAIRED']);
      store.add([{ reportId: 's8', stream: 'private', status: 'ACCEPTED', message: null, senderOrgId: null, receivedAt: 70, report: { ...client(5000), role: 'SERVER' } }]);
      store.reconcile(80, 80);
      expect(store.list({ fapiInteractionId: fapi(5000), offset: 0, limit: 5 }).data.map((r) => [r.reportId, r.status])).toEqual([
        ['c8a', 'PAIRED'],
        ['c8b', 'PAIRED'],
        ['s8', 'PAIRED'],
      ]);
    } finally {
      store.close();
    }
  });

  it('closes a client that never finishes its headers on the report API host (408 or close)', async () => {
    const pki = await testPki(await tempDir('emulator-bounds'));
    const emulator = await startInProcessEmulator(pki, { listener: { headersTimeoutMs: 500, requestTimeoutMs: 1000 } });
    const ca = await readFile(pki.caCert);
    try {
      // A request target that is no URL path answers 400 (it was an unhandled rejection, which ends a Node 20 process).
      const { hostname, port } = new URL(emulator.url);
      for (const target of ['//', '//x:99999/', '//%']) {
        const answer = await new Promise<string>((resolve, reject) => {
          const socket = connect({ host: hostname, port: Number(port), ca }, () => socket.end(`POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`));
          let text = '';
          socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
          socket.on('close', () => resolve(text));
          socket.on('error', reject);
        });
        expect(answer.split('\r\n')[0], target).toBe('HTTP/1.1 400 Bad Request');
      }
      for (const url of [emulator.url]) {
        const { hostname, port } = new URL(url);
        const answer = await new Promise<string>((resolve, reject) => {
          const socket = connect({ host: hostname, port: Number(port), ca }, () => socket.write('POST /report-api/v1/private/report HTTP/1.1\r\nHost: x\r\n'));
          let text = '';
          socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
          socket.on('close', () => resolve(text));
          socket.on('error', reject);
          // Bounded: the test fails rather than hangs if the emulator never closes.
          setTimeout(() => (socket.destroy(), resolve('still open after 20 s')), 20_000).unref();
        });
        expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
      }
    } finally {
      await emulator.stop();
    }
  });
});
