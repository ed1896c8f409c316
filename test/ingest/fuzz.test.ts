import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { mulberry32 } from '../../src/random.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { CLIENT_ORG, SERVER_ORG, tempDir } from '../helpers/pki.js';
import { validReport } from '../helpers/reports.js';
import { adminSection } from '../helpers/admin.js';

/**
 * Fuzzing the ingest (reliability-lessons.md, test 8): mutated and random bodies on every route, bounded in count.
 * Every answer must be 2xx or 4xx — never a 5xx, never a dropped connection — and the server must keep serving.
 */
const CASES = 1500;
const ROUTES = ['/v1/reports', '/v1/interactions', '/v1/gateways/kong', '/v1/gateways/envoy'];
const TYPES = ['application/json', 'application/x-ndjson', 'application/json; charset=utf-8', 'text/plain', ''];

function mutate(rand: () => number, text: string): string {
  const chars = [...text];
  const edits = 1 + Math.floor(rand() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rand() * (chars.length + 1));
    const r = rand();
    if (r < 0.3) chars.splice(at, 1);
    else if (r < 0.6) chars.splice(at, 0, String.fromCharCode(Math.floor(rand() * 0x2fff)));
    else if (r < 0.8) chars.splice(at, 0, ...'{"a":[null,1e999,"\\ud800",-0]}');
    else chars.splice(at, Math.floor(rand() * 20));
  }
  return chars.join('');
}

function body(rand: () => number, i: number): string {
  const r = rand();
  if (r < 0.4) return mutate(rand, JSON.stringify([validReport(i), validReport(i + 1)]));
  if (r < 0.6) return JSON.stringify({ ...validReport(i), [`k${i}`]: [null, { deep: { deeper: [1, 'x'] } }], statusCode: rand() < 0.5 ? 'x' : 1e308 });
  if (r < 0.7) return JSON.stringify(Array.from({ length: Math.floor(rand() * 50) }, () => (rand() < 0.5 ? null : rand())));
  if (r < 0.8) return Buffer.from(Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256))).toString('latin1');
  if (r < 0.9) return '['.repeat(Math.floor(rand() * 5000)) + ']'.repeat(Math.floor(rand() * 5000));
  return JSON.stringify({ role: 'CLIENT', method: 'GET', url: mutate(rand, 'https://x.com.br/open-banking/accounts/v2/accounts/1'), status: 200, startTime: rand() * 1e16, durationMs: -rand(), fapiInteractionId: '', counterpartyOrgId: SERVER_ORG });
}

describe('fuzzing the ingest', () => {
  let sidecar: RunningSidecar;

  beforeAll(async () => {
    const dir = await tempDir('fuzz');
    const config = configSchema.parse({
      ingest: { port: 0, maxBodyBytes: 256 * 1024 },
      admin: adminSection(dir),
      spool: { path: join(dir, 'spool.db') },
      pcm: { apiUrl: 'https://127.0.0.1:9', authUrl: 'https://127.0.0.1:9' },
      organisations: [
        { orgId: CLIENT_ORG, clientId: 'c', certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none.pem') },
        { orgId: SERVER_ORG, clientId: 's', certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none.pem') },
      ],
    });
    sidecar = await startSidecar(config, createLogger('silent'));
  });
  afterAll(async () => sidecar.stop());

  it(`answers ${CASES} malformed bodies with 2xx/4xx and keeps serving`, async () => {
    const rand = mulberry32(424242);
    const statuses = new Map<number, number>();
    for (let i = 0; i < CASES; i++) {
      const route = ROUTES[Math.floor(rand() * ROUTES.length)]!;
      const type = TYPES[Math.floor(rand() * TYPES.length)]!;
      const text = body(rand, i);
      const res = await request(`${sidecar.ingestUrl}${route}?role=${rand() < 0.5 ? 'SERVER' : 'x'}`, {
        method: 'POST',
        headers: type ? { 'content-type': type } : {},
        body: text,
      });
      const answer = await res.body.text();
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      expect(res.statusCode < 500, `${route} ${type} → ${res.statusCode} ${answer} for ${text.slice(0, 200)}`).toBe(true);
    }
    // The corpus reached past the parser: some items were refused one by one (207), some bodies as a whole (400).
    expect(statuses.get(207) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(0);
    const health = await request(`${sidecar.ingestUrl}/healthz`);
    expect(health.statusCode).toBe(200);
    await health.body.text();
  });
});
