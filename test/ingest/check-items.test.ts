import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { checkItems, fullResults } from '../../src/ingest/check-items.js';
import { parseBody } from '../../src/ingest/body.js';
import { ingestRoutes } from '../../src/ingest/routes.js';
import { loadCatalog } from '../../src/report/catalog.js';
import { reportRules } from '../../src/report/context.js';
import { normaliseReport } from '../../src/report/normalise.js';
import { CLIENT_ORG, SERVER_ORG } from '../helpers/pki.js';
import { FIXED_NOW, fixedClient, fixedServer } from '../helpers/reports.js';

/**
 * A body's items as the ingest server sees them: only the items with something to say keep a result until the
 * answer, and the answer's list is complete, in order, with the spool's duplicates marked.
 */

const rules = reportRules({ organisations: [{ orgId: CLIENT_ORG }, { orgId: SERVER_ORG }], opendataOrgId: SERVER_ORG, rules: { ...DEFAULTS.rules } }, loadCatalog());
const toReport = ingestRoutes(rules.build)['/v1/reports'];
const where = { source: '127.0.0.1 POST /v1/reports', route: '/v1/reports', maxReportBytes: 1_000_000 };
const fapi = (n: number): string => `c2f1b3a4-5d6e-4f70-8a9b-0c1d2e3f4a${String(n).padStart(2, '0')}`;

const body = Buffer.from(
  JSON.stringify([
    fixedClient({ fapiInteractionId: fapi(0) }), // 0: clean
    fixedServer({ fapiInteractionId: fapi(1), statusCode: '200' }), // 1: refused
    fixedClient({ fapiInteractionId: fapi(2), role: 'client' }), // 2: repaired (enum case)
    fixedClient({ fapiInteractionId: fapi(3), endpointUriPrefix: 'uri:' }), // 3: a quality finding (seed 000's uri:)
    fixedServer({ fapiInteractionId: fapi(4) }), // 4: clean
  ]),
);

describe('checkItems and fullResults', () => {
  const checked = checkItems(parseBody(body, 'json'), toReport as NonNullable<typeof toReport>, rules.validation(FIXED_NOW), new URLSearchParams(), where);

  it('keeps results only for items with something to say, and a note only for repaired or remarked reports', () => {
    expect(checked.items).toBe(5);
    expect(checked.reports).toHaveLength(4);
    expect(checked.storedAt).toEqual([0, 2, 3, 4]);
    expect(checked.results.map((r) => [r.index, r.status])).toEqual([
      [1, 'rejected'],
      [2, 'accepted'],
      [3, 'accepted'],
    ]);
    expect(checked.notable.map((n) => [n.report, n.repairs, n.rules])).toEqual([
      [1, ['enum_case'], []],
      [2, [], ['endpointUriPrefix.shape']],
    ]);
    expect(checked.notable[1]?.fapiInteractionId).toBe(fapi(3));
    expect(checked.warned).toBe(1);
  });

  it('lists every item in order once stored; a duplicate keeps its warnings, not its repairs', () => {
    const all = fullResults(checked, ['stored', 'stored', 'stored', 'stored']);
    expect(all.map((r) => [r.index, r.status])).toEqual([
      [0, 'accepted'],
      [1, 'rejected'],
      [2, 'accepted'],
      [3, 'accepted'],
      [4, 'accepted'],
    ]);
    expect(all[2]).toMatchObject({ repairs: ['enum_case'] });
    expect(all[3]).toHaveProperty('warnings');

    const again = fullResults(checked, ['duplicate', 'duplicate', 'duplicate', 'stored']);
    expect(again.map((r) => r.status)).toEqual(['duplicate', 'rejected', 'duplicate', 'duplicate', 'accepted']);
    expect(again[2]).toEqual({ index: 2, status: 'duplicate' });
    expect(again[3]).toMatchObject({ index: 3, status: 'duplicate', warnings: [expect.objectContaining({ rule: 'endpointUriPrefix.shape' })] });
  });
});

describe('normaliseReport copies only what it repairs', () => {
  const context = { privateTemplates: rules.validation().privateTemplates, opendataTemplates: rules.validation().opendataTemplates };

  it('gives a clean report back as it is, with the shared empty list of repairs', () => {
    const input = fixedClient();
    const out = normaliseReport(input, context);
    expect(out.item).toBe(input);
    expect(out.repairs).toEqual([]);
    expect(Object.isFrozen(out.repairs)).toBe(true);
  });

  it('repairs a copy and leaves the input as it came (the quarantine keeps the item as received)', () => {
    const input = fixedServer({ role: 'server', httpMethod: 'get', endpointUriPrefix: 'https://x.example/open' });
    const before = structuredClone(input);
    const out = normaliseReport(input, context);
    expect(out.item).not.toBe(input);
    expect(input).toEqual(before);
    expect(out.item).toMatchObject({ role: 'SERVER', httpMethod: 'GET' });
    expect(out.item).not.toHaveProperty('endpointUriPrefix');
    expect(out.repairs).toEqual(['enum_case', 'server_key_removed']);
  });

  it('copies before removing a key a SERVER report must not have, when that is the only repair', () => {
    const input = fixedServer({ correlationId: 'abc' });
    const out = normaliseReport(input, context);
    expect(out.item).not.toBe(input);
    expect(input).toHaveProperty('correlationId', 'abc');
    expect(out.item).not.toHaveProperty('correlationId');
    expect(out.repairs).toEqual(['server_key_removed']);
  });
});
