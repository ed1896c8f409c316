import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { tempDir } from '../helpers/pki.js';
import { adminSection } from '../helpers/admin.js';
import {
  CORPUS_CLIENT_ORG,
  CORPUS_SERVER_ORG,
  FULL_COVERAGE_BODIES,
  INGEST_ROUTES,
  deepArrayText,
  hostileBody,
  storedIds,
  systematicCaseCounts,
  validItem,
  type HostileBody,
  type IngestRoute,
  type ItemFacts,
  type Role,
} from '../fuzz/corpus.js';

/**
 * Issue #8: hostile input never costs a 5xx. A real in-process sidecar (certificates that do not exist, so nothing is
 * sent) gets the seeded corpus of test/fuzz/corpus.ts on every ingest route — deep nesting, out-of-range numbers,
 * prototype-named keys, objects in scalar fields, JSON-in-a-string, huge strings, broken NDJSON, empty bodies, wrong
 * content types — and then the regressions, each of which answered 500 before its fix.
 *
 * Asserted: every request is answered (waits are bounded by the client's own timeouts; nothing is timed), never 5xx;
 * valid neighbours of a bad item are in the spool; every refused item or body is in quarantine with a reason (identical
 * refusals fold into one row, so the quarantine's sum of `count` is what is compared); the server keeps serving.
 */

/** PCM_FUZZ_SEED replays another corpus (as a soak run reports it); CI uses this one. */
const SEED = Number(process.env.PCM_FUZZ_SEED ?? 0x8_2026);
/** Bodies sent: by default exactly the systematic coverage (every case once); PCM_FUZZ_BODIES for a longer local run. */
const BODIES = Number(process.env.PCM_FUZZ_BODIES ?? FULL_COVERAGE_BODIES);
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_ITEMS = 500;
/** The listener closes a request that takes longer than this (408); the client waits a little longer, never forever. */
const REQUEST_TIMEOUT_MS = 30_000;
const CLIENT_WAIT_MS = REQUEST_TIMEOUT_MS + 10_000;

type Problem = { field: string; rule: string; message: string };
type ItemResult = { index: number; status: string; errors?: Problem[] };
type Answer = { accepted?: number; duplicates?: number; rejected?: number; skipped?: number; results?: ItemResult[]; error?: string; code?: string };

interface Posted {
  status: number;
  answer: Answer;
  text: string;
}

let sidecar: RunningSidecar;
let spoolPath: string;
let logFile: string;
let base: string;
const dispatcher = new Agent({ headersTimeout: CLIENT_WAIT_MS, bodyTimeout: CLIENT_WAIT_MS, connect: { timeout: CLIENT_WAIT_MS } });

beforeAll(async () => {
  const dir = await tempDir('hostile');
  spoolPath = join(dir, 'spool.db');
  logFile = join(dir, 'sidecar.log');
  const config = configSchema.parse({
    ingest: { port: 0, maxBodyBytes: MAX_BODY_BYTES, maxItemsPerRequest: MAX_ITEMS, requestTimeoutMs: REQUEST_TIMEOUT_MS },
    admin: adminSection(dir),
    // The default run stays far below the quarantine's caps; a longer one lifts them, so that every refusal is still there to count.
    spool: { path: spoolPath, ...(BODIES > FULL_COVERAGE_BODIES ? { quarantineMaxRows: 1e9, quarantineMaxBytes: 2 ** 40 } : {}) },
    pcm: { apiUrl: 'https://127.0.0.1:9', authUrl: 'https://127.0.0.1:9' },
    organisations: [
      { orgId: CORPUS_CLIENT_ORG, clientId: 'c', certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none-key.pem') },
      { orgId: CORPUS_SERVER_ORG, clientId: 's', certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none-key.pem') },
    ],
  });
  // Errors only, to a file: a 500 is logged with its stack, and a failing assertion shows it.
  const { pino } = await import('pino');
  sidecar = await startSidecar(config, pino({ level: 'error' }, pino.destination({ dest: logFile, sync: true })));
  base = sidecar.ingestUrl;
});

afterAll(async () => {
  await sidecar?.stop();
  await dispatcher.close();
});

async function post(path: string, body: string, contentType = 'application/json'): Promise<Posted> {
  const res = await request(`${base}${path}`, {
    method: 'POST',
    dispatcher,
    headers: contentType === '' ? {} : { 'content-type': contentType },
    body,
  });
  const text = await res.body.text();
  let answer: Answer = {};
  try {
    answer = JSON.parse(text) as Answer;
  } catch {
    // not JSON: the assertions below say so
  }
  return { status: res.statusCode, answer, text };
}

function withDb<T>(read: (db: Database.Database) => T): T {
  // A second, read-only connection: what it sees was committed before the answer.
  const db = new Database(spoolPath, { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

const storedFapiIds = (): Set<string> =>
  new Set(withDb((db) => db.prepare('SELECT fapi_interaction_id AS id FROM reports').all() as { id: string | null }[]).flatMap((r) => (r.id ? [r.id] : [])));

interface QuarantineRow {
  route: string;
  count: number;
  problems: string;
  item: string;
}

/** Quarantine rows; `count` is 1 where the spool predates folding (no such column). */
function quarantineRows(): QuarantineRow[] {
  return withDb((db) => {
    const columns = (db.prepare('PRAGMA table_info(quarantine)').all() as { name: string }[]).map((c) => c.name);
    const count = columns.includes('count') ? 'count' : '1 AS count';
    return db.prepare(`SELECT route, ${count}, problems, item FROM quarantine ORDER BY id`).all() as QuarantineRow[];
  });
}

/** Refusals recorded so far: identical items fold into one row, whose count says how many times it came. */
const quarantinedTotal = (): number => quarantineRows().reduce((n, r) => n + r.count, 0);

function errorLog(): string {
  try {
    return readFileSync(logFile, 'utf8');
  } catch {
    return '';
  }
}

let factCounter = 0;
function facts(): ItemFacts {
  factCounter++;
  const hex = factCounter.toString(16).padStart(12, '0');
  return { fapiInteractionId: `8e000000-0000-4000-8000-${hex}`, startMs: Date.now() - 5000 - factCounter, durationMs: 120 };
}

const valid = (route: IngestRoute, role: Role, f: ItemFacts = facts()): Record<string, unknown> => validItem(route, role, f);

/**
 * What went wrong with one body, as text, or null. Checks the answer against what the corpus says of the body and of
 * each item; returns how many refusals it should have added to the quarantine.
 */
function judge(body: HostileBody, posted: Posted): { failure: string | null; refusals: number } {
  const where = `#${body.index} ${body.kind} ${body.path} [${body.contentType || 'no content-type'}] → ${posted.status} ${posted.text.slice(0, 300)}`;
  const fail = (why: string): { failure: string; refusals: number } => ({ failure: `${where}: ${why}`, refusals: 0 });
  if (posted.status >= 500) return fail('a 5xx');
  if (body.expect === 'refused') {
    if (![400, 413, 415].includes(posted.status)) return fail('expected the body refused as a whole (400/413/415)');
    if (typeof posted.answer.error !== 'string' || typeof posted.answer.code !== 'string') return fail('a refusal without error and code');
    return { failure: null, refusals: 1 };
  }
  if (![200, 202, 207].includes(posted.status)) return fail('expected an answer item by item (200/202/207)');
  const { accepted = 0, duplicates = 0, rejected = 0, skipped = 0, results } = posted.answer;
  if (accepted + duplicates + rejected + skipped !== body.items.length) return fail(`expected ${body.items.length} items in the counts`);
  if (results === undefined) {
    if (rejected > 0 || body.items.some((i) => i.expect === 'refused')) return fail('refused items without results');
    return { failure: null, refusals: 0 };
  }
  if (results.length !== body.items.length) return fail(`expected ${body.items.length} results`);
  for (const [i, item] of body.items.entries()) {
    const status = results[i]?.status;
    if (item.expect === 'stored' && status !== 'accepted' && status !== 'duplicate') return fail(`item ${i} (${item.note}) should be stored, is ${status}`);
    if (item.expect === 'refused' && status !== 'rejected') return fail(`item ${i} (${item.note}) should be refused, is ${status}`);
    if (status === 'rejected' && !(results[i]?.errors ?? []).every((e) => typeof e.rule === 'string' && e.rule !== '' && typeof e.message === 'string')) {
      return fail(`item ${i} refused without a rule and a message`);
    }
  }
  return { failure: null, refusals: results.filter((r) => r.status === 'rejected').length };
}

describe('hostile input on every ingest route (issue #8)', () => {
  it(`answers ${BODIES} corpus bodies (every route × field × hostile value) without a 5xx; neighbours stored; refusals quarantined`, async () => {
    const counts = systematicCaseCounts();
    for (const route of INGEST_ROUTES) expect(counts[route], route).toBeGreaterThan(500);

    const failures: string[] = [];
    const statuses = new Map<number, number>();
    const kinds = new Map<string, number>();
    const expectedStored: string[] = [];
    const refusalsByRoute = new Map<string, number>(INGEST_ROUTES.map((r) => [r, 0]));
    let items = 0;
    const now = Date.now();
    const before = quarantinedTotal();
    for (let index = 0; index < BODIES; index++) {
      const body = hostileBody(SEED, index, { now, maxBodyBytes: MAX_BODY_BYTES, maxItemsPerRequest: MAX_ITEMS });
      let posted: Posted;
      try {
        posted = await post(body.path, body.body, body.contentType);
      } catch (err) {
        failures.push(`#${index} ${body.kind} ${body.path}: no answer (${String(err)})`);
        continue;
      }
      statuses.set(posted.status, (statuses.get(posted.status) ?? 0) + 1);
      kinds.set(body.kind, (kinds.get(body.kind) ?? 0) + 1);
      items += body.items.length;
      const { failure, refusals } = judge(body, posted);
      if (failure) failures.push(failure);
      refusalsByRoute.set(body.route, (refusalsByRoute.get(body.route) ?? 0) + refusals);
      expectedStored.push(...storedIds(body));
    }
    expect(failures.slice(0, 15), `${failures.length} bodies failed; error log:\n${errorLog().slice(0, 3000)}`).toEqual([]);
    expect(errorLog()).not.toMatch(/ingest failed/);

    // The corpus reached every outcome: items one by one, bodies as a whole for each reason.
    for (const status of [202, 207, 400, 413, 415]) expect(statuses.get(status) ?? 0, `answers with ${status}`).toBeGreaterThan(0);
    expect(kinds.size).toBe(14);
    expect(expectedStored.length).toBeGreaterThan(1000);
    expect(items).toBeGreaterThan(5000);

    // Valid neighbours are in the spool.
    const stored = storedFapiIds();
    const missing = expectedStored.filter((id) => !stored.has(id));
    expect(missing.slice(0, 10), `${missing.length} valid items not stored`).toEqual([]);

    // Every refusal is in quarantine, with a reason, route by route (none was evicted by the quarantine's caps).
    const metrics = await request(`${sidecar.adminUrl}/metrics`, { dispatcher });
    expect((await metrics.body.text()).match(/^pcm_sidecar_spool_quarantine_evicted_total (\d+)/m)?.[1] ?? '0').toBe('0');
    const rows = quarantineRows();
    expect(rows.reduce((n, r) => n + r.count, 0) - before).toBe([...refusalsByRoute.values()].reduce((a, b) => a + b, 0));
    for (const route of INGEST_ROUTES) {
      expect(rows.filter((r) => r.route === route).reduce((n, r) => n + r.count, 0), route).toBe(refusalsByRoute.get(route));
    }
    for (const row of rows) {
      const problems = JSON.parse(row.problems) as Problem[];
      expect(problems.length, row.item.slice(0, 200)).toBeGreaterThan(0);
      for (const p of problems) {
        expect(typeof p.rule === 'string' && p.rule !== '' && typeof p.message === 'string' && p.message !== '', row.problems).toBe(true);
      }
    }

    // Still serving: a valid body on every route is stored, and the health route answers.
    for (const route of INGEST_ROUTES) {
      const f = facts();
      const after = await post(route, JSON.stringify([valid(route, 'SERVER', f)]));
      expect(after.status, `${route}: ${after.text}`).toBe(202);
      expect(storedFapiIds().has(f.fapiInteractionId), route).toBe(true);
    }
    const health = await request(`${base}/healthz`, { dispatcher });
    await health.body.text();
    expect(health.statusCode).toBe(200);
    // A longer PCM_FUZZ_BODIES run gets the time it needs; the default one ends far inside the 120 s default.
  }, Math.max(120_000, BODIES * 30));
});

/**
 * Each of these answered 500 ("internal error; nothing from this request was stored") before its fix: the valid
 * neighbours were lost and a gateway that retries 5xx would resend the body forever.
 */
describe('regressions: hostile items that answered 500', () => {
  /** Posts [valid, bad, valid]; the bad one must be refused with `rule` on `field`, the others stored, the bad one quarantined. */
  async function refusedAlone(route: IngestRoute, bad: string, expected: { field?: string; rule?: string } = {}, role: Role = 'SERVER', ndjson = false) {
    const first = facts();
    const last = facts();
    const items = [JSON.stringify(valid(route, role, first)), bad, JSON.stringify(valid(route, role, last))];
    const quarantinedBefore = quarantinedTotal();
    const posted = ndjson ? await post(route, items.join('\n'), 'application/x-ndjson') : await post(route, `[${items.join(',')}]`);
    expect(posted.status, `${route}: ${posted.text.slice(0, 300)}\n${errorLog().slice(-2000)}`).toBe(207);
    expect(posted.answer.results?.map((r) => r.status)).toEqual(['accepted', 'rejected', 'accepted']);
    const errors = posted.answer.results?.[1]?.errors ?? [];
    if (expected.rule !== undefined) expect(errors.map((e) => [e.field, e.rule])).toContainEqual([expected.field, expected.rule]);
    else if (expected.field !== undefined) expect(errors.map((e) => e.field)).toContain(expected.field);
    const stored = storedFapiIds();
    expect(stored.has(first.fapiInteractionId) && stored.has(last.fapiInteractionId)).toBe(true);
    expect(quarantinedTotal()).toBe(quarantinedBefore + 1);
    return errors;
  }

  const DEEP = deepArrayText(5000);
  const DEEP_OBJECT = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);

  it("deep nesting: '['×5000 + ']'×5000 as a whole body, and as one item among valid ones, on /v1/reports (JSON and NDJSON)", async () => {
    const whole = await post('/v1/reports', DEEP);
    expect(whole.status, whole.text).toBeLessThan(500);
    expect(whole.status).toBe(207);
    expect(whole.answer.results?.map((r) => r.status)).toEqual(['rejected']);
    const wholeObject = await post('/v1/reports', DEEP_OBJECT);
    expect(wholeObject.status, wholeObject.text).toBe(400);
    await refusedAlone('/v1/reports', DEEP, { field: '', rule: 'json' });
    await refusedAlone('/v1/reports', DEEP_OBJECT, { field: '', rule: 'json' }, 'CLIENT');
    await refusedAlone('/v1/reports', DEEP, { field: '', rule: 'json' }, 'SERVER', true);
  });

  it('deep nesting: one such item among valid ones on the interaction and gateway routes', async () => {
    for (const route of ['/v1/interactions', '/v1/gateways/kong', '/v1/gateways/envoy'] as const) {
      await refusedAlone(route, DEEP, { field: '', rule: 'json' });
      await refusedAlone(route, DEEP_OBJECT, { field: '', rule: 'json' }, 'CLIENT', true);
    }
  });

  it('a numeric time outside the Date range: "timestamp": 1e20 on /v1/reports, startTime on /v1/interactions, started_at on Kong', async () => {
    for (const role of ['CLIENT', 'SERVER'] as const) {
      const report = JSON.stringify(valid('/v1/reports', role)).replace(/"timestamp":"[^"]*"/, '"timestamp":1e20');
      await refusedAlone('/v1/reports', report, { field: 'timestamp', rule: 'type' }, role);
      const interaction = JSON.stringify(valid('/v1/interactions', role)).replace(/"startTime":("[^"]*"|\d+)/, '"startTime":1e20');
      await refusedAlone('/v1/interactions', interaction, { field: 'startTime', rule: 'format' }, role);
      const kong = JSON.stringify(valid('/v1/gateways/kong', role)).replace(/"started_at":\d+/, '"started_at":1e20');
      await refusedAlone('/v1/gateways/kong', kong, { field: 'startTime', rule: 'format' }, role);
    }
    // The other out-of-range times too: -1e20, µs beyond the range, 1e308.
    for (const time of ['-1e20', '9e18', '1e308', '8.64e18', '1e400']) {
      const report = JSON.stringify(valid('/v1/reports', 'SERVER')).replace(/"timestamp":"[^"]*"/, `"timestamp":${time}`);
      await refusedAlone('/v1/reports', report, { field: 'timestamp' });
    }
  });

  it('an object with a non-callable toString in an enum field: "role": {"toString": 1} (and pcm.role / pcm_role on the gateways)', async () => {
    for (const hostile of ['{"toString":1}', '{"valueOf":{},"toString":{}}']) {
      const report = JSON.stringify(valid('/v1/reports', 'CLIENT')).replace('"role":"CLIENT"', `"role":${hostile}`);
      const errors = await refusedAlone('/v1/reports', report, { field: 'role', rule: 'enum' }, 'CLIENT');
      expect(errors[0]?.message).toMatch(/received 'object'/);
      const kong = JSON.stringify(valid('/v1/gateways/kong', 'SERVER')).replace('"role":"SERVER"', `"role":${hostile}`);
      await refusedAlone('/v1/gateways/kong', kong, { field: 'pcm.role', rule: 'enum' });
      const envoy = JSON.stringify(valid('/v1/gateways/envoy', 'SERVER')).replace('"pcm_role":"SERVER"', `"pcm_role":${hostile}`);
      await refusedAlone('/v1/gateways/envoy', envoy, { field: 'pcm_role', rule: 'enum' });
      const method = JSON.stringify(valid('/v1/reports', 'SERVER')).replace('"httpMethod":"GET"', `"httpMethod":${hostile}`);
      await refusedAlone('/v1/reports', method, { field: 'httpMethod' });
    }
  });

  it('a string field holding an object whose `length` JavaScript cannot compare: {"length": {"toString": {}, "valueOf": {}}}', async () => {
    // Found by the validator's differential test (issue #9): the zod-based validator threw a TypeError here.
    const hostile = '{"length":{"toString":{},"valueOf":{}}}';
    for (const field of ['fapiInteractionId', 'endpoint', 'serverOrgId']) {
      const report = JSON.stringify(valid('/v1/reports', 'SERVER')).replace(new RegExp(`"${field}":"[^"]*"`), `"${field}":${hostile}`);
      await refusedAlone('/v1/reports', report, { field, rule: 'type' });
    }
  });

  // Found by this file's corpus (issue #8, after the fixes above).

  it('JSON nested 5000 deep inside a JSON string the mapping parses (pcm.additionalInfo, pcm_additional_info) is refused alone', async () => {
    const deepInfo = JSON.stringify(`{"consentId":${DEEP}}`);
    const kong = JSON.stringify(valid('/v1/gateways/kong', 'CLIENT')).replace(/"additionalInfo":"(?:[^"\\]|\\.)*"/, `"additionalInfo":${deepInfo}`);
    await refusedAlone('/v1/gateways/kong', kong, { field: 'pcm.additionalInfo', rule: 'type' }, 'CLIENT');
    for (const route of ['/v1/gateways/envoy', '/v1/gateways/nginx'] as const) {
      const line = JSON.stringify(valid(route, 'CLIENT')).replace(/"pcm_additional_info":"(?:[^"\\]|\\.)*"/, `"pcm_additional_info":${deepInfo}`);
      await refusedAlone(route, line, { field: 'pcm_additional_info', rule: 'type' }, 'CLIENT', true);
    }
  });

  it("a request target that is not a URL path ('//', '//x:99999/') is answered 400, not left without an answer", async () => {
    const { port, hostname } = new URL(base);
    for (const target of ['//', '//x:99999/', '//%', '//[']) {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), hostname, () => socket.end(`POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`));
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
        // Bounded: the listener's own request timeout would close it; an answer comes long before.
        socket.setTimeout(CLIENT_WAIT_MS, () => socket.destroy(new Error(`no answer to POST ${target}`)));
      });
      expect(answer.split('\r\n')[0], target).toMatch(/^HTTP\/1\.1 (400|404) /);
    }
    const health = await request(`${base}/healthz`, { dispatcher });
    await health.body.text();
    expect(health.statusCode).toBe(200);
  });
});
