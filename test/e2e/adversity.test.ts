import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { startSidecar } from '../../src/sidecar.js';
import { getJson, postJson } from '../helpers/http.js';
import { CLIENT_ORG, SERVER_ORG, tempDir, testPki } from '../helpers/pki.js';
import { stopProc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { sidecarEnv, startSidecarProcess } from '../helpers/stack.js';
import { adminSection } from '../helpers/admin.js';
import { adminJson } from '../helpers/admin.js';

describe('adversity: an unreadable spool, a full spool', () => {
  it('a spool file that is not a database is moved aside with an error naming it; the sidecar starts and accepts', async () => {
    const dir = await tempDir('corrupt');
    const pki = await testPki(dir);
    const spoolPath = join(dir, 'spool.db');
    await writeFile(spoolPath, Buffer.alloc(8192, 0x5a));
    // No PCM at that address: this test is about the start, not the delivery.
    const sidecar = await startSidecarProcess(sidecarEnv(pki, { url: 'https://127.0.0.1:9', authUrl: 'https://127.0.0.1:9' }, spoolPath));
    try {
      const line = await sidecar.proc.waitFor((l) => l.includes('PCM_SPOOL_UNREADABLE'));
      const movedTo = (JSON.parse(line) as { movedTo: string }).movedTo;
      expect(existsSync(movedTo)).toBe(true);
      expect((await postJson(`${sidecar.url}/v1/reports`, validReport(0))).status).toBe(202);
      const status = await adminJson<{ spool: { movedAside: string; pending: number } }>(`${sidecar.adminUrl}/v1/status`);
      expect(status.body.spool).toMatchObject({ movedAside: movedTo, pending: 1 });
    } finally {
      expect((await stopProc(sidecar.proc)).code).toBe(0);
    }
  });

  it('a full spool answers 503 with Retry-After; every report answered 202 before is kept', async () => {
    const dir = await tempDir('full');
    const spoolPath = join(dir, 'spool.db');
    const config = configSchema.parse({
      ingest: { port: 0 },
      admin: adminSection(dir),
      spool: { path: spoolPath, maxBytes: 2 * 1024 * 1024 },
      pcm: { apiUrl: 'https://127.0.0.1:9', authUrl: 'https://127.0.0.1:9' },
      organisations: [
        { orgId: CLIENT_ORG, clientId: 'c', certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none.pem') },
        { orgId: SERVER_ORG, clientId: 's', certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none.pem') },
      ],
    });
    const sidecar = await startSidecar(config, createLogger('silent'));
    const acked: string[] = [];
    let refused: { status: number; headers: Record<string, unknown> } | null = null;
    try {
      expect((await postJson(`${sidecar.ingestUrl}/v1/reports`, `[${'x'.repeat(199_999)}`)).status).toBe(400);
      for (let i = 0; i < 8000 && refused === null; i++) {
        const report = validReport(i);
        const answer = await postJson(`${sidecar.ingestUrl}/v1/reports`, report);
        if (answer.status === 202) acked.push(report.fapiInteractionId as string);
        else refused = answer;
      }
    } finally {
      await sidecar.stop();
    }
    expect(refused?.status).toBe(503);
    // A large refused body is recorded, cut to 64 KiB, so refused traffic cannot crowd out reports.
    const db0 = new Database(spoolPath, { readonly: true });
    const kept = db0.prepare("SELECT item FROM quarantine WHERE item LIKE '%[cut: %'").all() as { item: string }[];
    db0.close();
    expect(kept).toHaveLength(1);
    expect(kept[0]!.item).toMatch(/… \[cut: 200000 characters received\]$/);
    expect(refused?.headers['retry-after']).toBe('5');
    expect(acked.length).toBeGreaterThan(50);
    const db = new Database(spoolPath, { readonly: true });
    try {
      const kept = new Set((db.prepare('SELECT fapi_interaction_id AS id FROM reports').all() as { id: string }[]).map((r) => r.id));
      for (const id of acked) expect(kept.has(id)).toBe(true);
    } finally {
      db.close();
    }
  });
});
