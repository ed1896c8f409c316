import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MappingResult } from '../../src/ingest/gateways/common.js';
import { fromEnvoy } from '../../src/ingest/gateways/envoy.js';
import { fromKong } from '../../src/ingest/gateways/kong.js';
import { fromNginx } from '../../src/ingest/gateways/nginx.js';
import { ingestRoutes, type RouteResult } from '../../src/ingest/routes.js';
import { buildReport, type BuildResult } from '../../src/report/build.js';
import { INGEST_ROUTES, validItem } from '../fuzz/corpus.js';
import { NOW, RUNS, canonical, context, inputFor, rules, ruleSet, seedArb, shuffled } from './arbitraries.js';

/**
 * From a gateway's record to a report: the mappings (src/ingest/gateways/{kong,envoy,nginx}.ts), buildReport
 * (src/report/build.ts) and each ingest route end to end (src/ingest/routes.ts, as the server and `quarantine replay`
 * call it). Over any JSON and over records shaped like each gateway's: no throw, and the verdict — and what is made
 * of the record — does not depend on key order (case twins of header names included).
 */

const MAPPINGS = {
  kong: { route: '/v1/gateways/kong', map: fromKong },
  envoy: { route: '/v1/gateways/envoy', map: fromEnvoy },
  nginx: { route: '/v1/gateways/nginx', map: fromNginx },
} as const;

function mapped(result: MappingResult): string {
  return result.ok ? `ok ${canonical(result.interaction)}` : `refused: ${ruleSet(result.problems).join(', ')}`;
}

function built(result: BuildResult): string {
  return result.ok ? `ok ${canonical(result.item)}` : `refused: ${ruleSet(result.problems).join(', ')}`;
}

function routed(result: RouteResult): string {
  if ('skipped' in result) return `skipped ${result.skipped}`;
  // additionalInfo goes out with its keys as they came: the same report is the same JSON up to key order.
  return result.ok ? `accepted ${result.dedupKey} ${canonical(JSON.parse(result.json))}` : `refused: ${ruleSet(result.problems).join(', ')}`;
}

const roleOption = fc.constantFrom({}, { role: 'CLIENT' as const }, { role: 'SERVER' as const });

describe('gateway mappings: total over any JSON, stable under key order', () => {
  for (const [name, { route, map }] of Object.entries(MAPPINGS)) {
    it(`${name}: never throws; every problem has a field, a rule and a message`, () => {
      fc.assert(
        fc.property(inputFor(route), roleOption, (value, options) => {
          const result = map(value, options);
          if (!result.ok) {
            expect(result.problems.length).toBeGreaterThan(0);
            for (const p of result.problems) expect([typeof p.field, typeof p.rule, typeof p.message]).toEqual(['string', 'string', 'string']);
          }
        }),
        { numRuns: RUNS.cheap },
      );
    });

    it(`${name}: the same interaction, or the same refusing rules, whatever the key order`, () => {
      const seen = new Set<string>();
      fc.assert(
        fc.property(inputFor(route), roleOption, seedArb, (value, options, seed) => {
          const a = mapped(map(value, options));
          seen.add(a.slice(0, 2));
          expect(mapped(map(shuffled(value, seed), options))).toBe(a);
        }),
        { numRuns: RUNS.cheap },
      );
      expect([...seen].sort()).toEqual(['ok', 're']);
    });
  }
});

describe('found by these properties', () => {
  const KONG = validItem('/v1/gateways/kong', 'SERVER', { fapiInteractionId: 'd9b1d6a4-5c0e-4f55-8f2f-7d3b0b9c1e21', startMs: NOW - 5000, durationMs: 88 });

  it('Kong: a header spelt twice (x-fapi-interaction-id and X-FAPI-Interaction-Id) gives the same interaction in either key order', () => {
    const headers = (KONG.request as { headers: Record<string, unknown> }).headers;
    // No id in the response headers, so nothing else can stand in for the request's.
    const response = { ...(KONG.response as object), headers: { 'content-type': 'application/json' } };
    for (const twin of ['', {}, 'not-the-id', ['']]) {
      const first = { ...KONG, response, request: { ...(KONG.request as object), headers: { 'X-FAPI-Interaction-Id': twin, ...headers } } };
      const last = { ...KONG, response, request: { ...(KONG.request as object), headers: { ...headers, 'X-FAPI-Interaction-Id': twin } } };
      const a = fromKong(first, {});
      const b = fromKong(last, {});
      expect(mapped(a)).toBe(mapped(b));
      // The lower-case name Kong writes, when usable, is the one read.
      expect(a.ok && a.interaction.fapiInteractionId).toBe('d9b1d6a4-5c0e-4f55-8f2f-7d3b0b9c1e21');
    }
  });

  it('a JSON string nested deeper than the body limit (pcm_additional_info) is refused, not passed on', () => {
    const line = validItem('/v1/gateways/envoy', 'CLIENT', { fapiInteractionId: 'd9b1d6a4-5c0e-4f55-8f2f-7d3b0b9c1e21', startMs: NOW - 5000, durationMs: 88 });
    const deep = fromEnvoy({ ...line, pcm_additional_info: `{"consentId":${'['.repeat(5000)}${']'.repeat(5000)}}` }, {});
    expect(deep.ok ? [] : deep.problems.map((p) => [p.field, p.rule])).toEqual([['pcm_additional_info', 'type']]);
    const shallow = fromEnvoy({ ...line, pcm_additional_info: `{"consentId":${'['.repeat(20)}${']'.repeat(20)}}` }, {});
    expect(shallow.ok).toBe(true);
  });
});

describe('buildReport: total over any JSON, stable under key order', () => {
  it('never throws, on any value and on interactions with fields replaced, dropped or prototype keys added', () => {
    fc.assert(
      fc.property(inputFor('/v1/interactions'), (value) => {
        const result = buildReport(value, rules.build);
        if (!result.ok) expect(result.problems.length).toBeGreaterThan(0);
      }),
      { numRuns: RUNS.cheap },
    );
  });

  it('the same report, or the same refusing rules, whatever the key order', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(inputFor('/v1/interactions'), seedArb, (value, seed) => {
        const a = built(buildReport(value, rules.build));
        seen.add(a.slice(0, 2));
        expect(built(buildReport(shuffled(value, seed), rules.build))).toBe(a);
      }),
      { numRuns: RUNS.cheap },
    );
    expect([...seen].sort()).toEqual(['ok', 're']);
  });
});

describe('every ingest route end to end (mapping → build → validation)', () => {
  const routes = ingestRoutes(rules.build, { skipPaths: /^\/(healthz|readyz)(\/|$)/ });
  const queries = fc.constantFrom('', 'role=SERVER', 'role=client', 'orgId=__proto__', `orgId=${'062c5edb-4e83-5002-9981-e2a96c5ad41e'}`, 'role=toString');

  for (const route of INGEST_ROUTES) {
    it(`${route}: never throws, and the verdict (accepted, skipped, refused and why) does not depend on key order`, () => {
      const toReport = routes[route];
      expect(toReport).toBeDefined();
      const seen = new Set<string>();
      fc.assert(
        fc.property(inputFor(route), queries, seedArb, (value, query, seed) => {
          const params = new URLSearchParams(query);
          const a = routed(toReport!(value, context, params));
          seen.add(a.split(' ')[0] as string);
          expect(routed(toReport!(shuffled(value, seed), context, params))).toBe(a);
        }),
        { numRuns: RUNS.normal },
      );
      expect(seen.has('accepted') && seen.has('refused:')).toBe(true);
    });
  }
});
