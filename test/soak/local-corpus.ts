import { mulberry32 } from '../../src/random.js';
import { CLIENT_ORG, SERVER_ORG } from '../helpers/pki.js';
import { validReport } from '../helpers/reports.js';

/**
 * A minimal hostile-body generator with the interface of test/fuzz/corpus.ts (`hostileBodies(seed, count)`), used by
 * the fuzz soak only while that module does not exist (test/soak/fuzz.ts loads whichever is there). Same seed, same
 * shapes (fapiInteractionIds of the valid items are fresh, so they are never duplicates of an earlier run).
 */

export interface HostileBody {
  /** Ingest path, optionally with a query (`/v1/gateways/kong?role=SERVER`). */
  route: string;
  /** Content-Type header; '' sends none. */
  contentType: string;
  body: string | Uint8Array;
  /** Items in the body the sidecar must store (valid neighbours of the hostile ones). */
  validItems: number;
}

const ROUTES = ['/v1/reports', '/v1/interactions', '/v1/gateways/kong', '/v1/gateways/envoy', '/v1/gateways/nginx'] as const;

const SCALAR_FIELDS = ['role', 'fapiInteractionId', 'endpoint', 'statusCode', 'httpMethod', 'timestamp', 'processTimespan', 'clientOrgId', 'serverOrgId'];

const NASTY_VALUES: readonly unknown[] = [
  { toString: 1 },
  { valueOf: {} },
  { toString: 1, valueOf: 1 },
  [],
  {},
  [1, 2],
  null,
  true,
  1e20,
  -1e308,
  1e308,
  -0,
  '',
  '\u0000',
  '\ud800',
  'x'.repeat(5000),
];

const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__defineGetter__'];

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)] as T;
}

function int(rand: () => number, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}

function uuidOf(rand: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** A valid raw interaction (POST /v1/interactions) of the server organisation. */
function validInteraction(rand: () => number): Record<string, unknown> {
  return {
    role: 'SERVER',
    method: 'GET',
    url: 'https://api.bank.example.com.br/open-banking/accounts/v2/accounts',
    status: 200,
    startTime: new Date(Date.now() - 5000).toISOString(),
    durationMs: int(rand, 5, 900),
    fapiInteractionId: uuidOf(rand),
    counterpartyOrgId: CLIENT_ORG,
    orgId: SERVER_ORG,
  };
}

function deep(rand: () => number): string {
  const depth = int(rand, 33, 20_000);
  return rand() < 0.5 ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

function hostileItem(rand: () => number, route: string): string {
  const r = rand();
  if (r < 0.2) return deep(rand);
  if (r < 0.35) {
    const keys = PROTOTYPE_KEYS.filter(() => rand() < 0.5);
    const entries = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(pick(rand, NASTY_VALUES))}`);
    return `{${entries.join(',')},"additionalInfo":{${keys.map((k) => `${JSON.stringify(k)}:"x"`).join(',')}}}`;
  }
  if (r < 0.6) {
    const base = route.startsWith('/v1/reports') ? validReport(0) : validInteraction(rand);
    const key = route.startsWith('/v1/reports') ? pick(rand, SCALAR_FIELDS) : pick(rand, Object.keys(base));
    return JSON.stringify({ ...base, [key]: pick(rand, NASTY_VALUES) });
  }
  if (r < 0.75) return JSON.stringify({ timestamp: 1e20, startTime: 1e20, started_at: 1e20, start_time: 1e20, msec: 1e308, role: { toString: 1 } });
  if (r < 0.85) return JSON.stringify({ role: 'CLIENT', endpoint: 'x'.repeat(int(rand, 1000, 200_000)) });
  return pick(rand, ['1', '"x"', 'null', 'true', '[]', '{}', '9'.repeat(int(rand, 300, 5000)), '1e400', '-1e400']);
}

function randomBytes(rand: () => number): Uint8Array {
  return Uint8Array.from({ length: int(rand, 0, 2000) }, () => Math.floor(rand() * 256));
}

function one(rand: () => number): HostileBody {
  const route = pick(rand, ROUTES);
  const validShape = route === '/v1/reports' ? (): unknown => validReport(Math.floor(rand() * 1000)) : route === '/v1/interactions' ? (): unknown => validInteraction(rand) : null;
  const r = rand();
  // Valid neighbours with hostile items among them, as an array or as NDJSON lines.
  if (r < 0.35) {
    const valid = validShape ? int(rand, 1, 5) : 0;
    const parts = [...Array.from({ length: valid }, () => JSON.stringify(validShape?.())), ...Array.from({ length: int(rand, 1, 3) }, () => hostileItem(rand, route))];
    for (let i = parts.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [parts[i], parts[j]] = [parts[j] as string, parts[i] as string];
    }
    if (rand() < 0.3) {
      // Broken NDJSON: a line that does not parse, blank lines, a trailing fragment.
      parts.splice(int(rand, 0, parts.length), 0, '{"role":"CLIENT",', '', '   ');
      return { route, contentType: 'application/x-ndjson', body: parts.join('\n'), validItems: valid };
    }
    return { route, contentType: 'application/json', body: `[${parts.join(',')}]`, validItems: valid };
  }
  if (r < 0.5) return { route, contentType: 'application/json', body: deep(rand), validItems: 0 };
  if (r < 0.6) return { route, contentType: pick(rand, ['application/json', 'application/x-ndjson', '']), body: randomBytes(rand), validItems: 0 };
  if (r < 0.7) {
    const text = JSON.stringify(Array.from({ length: int(rand, 1, 4) }, () => validShape?.() ?? validInteraction(rand)));
    return { route, contentType: 'application/json', body: text.slice(0, int(rand, 0, text.length - 1)), validItems: 0 };
  }
  if (r < 0.85) return { route, contentType: 'application/json', body: hostileItem(rand, route), validItems: 0 };
  if (r < 0.92) {
    // Lone surrogates, a BOM, NUL bytes.
    return { route, contentType: 'application/json', body: pick(rand, ['\ufeff[{}]', '["\ud800"]', '{"role":"\u0000"}', '[\u0000]', '{"\\ud800":1}']), validItems: 0 };
  }
  // A valid body under a content type the ingest does not take (415).
  const body = JSON.stringify([validShape?.() ?? validInteraction(rand)]);
  return { route, contentType: pick(rand, ['text/plain', 'multipart/form-data; boundary=x', 'application/xml', 'application/json-patch+json']), body, validItems: 0 };
}

export function hostileBodies(seed: number, count: number): HostileBody[] {
  const rand = mulberry32(seed);
  return Array.from({ length: count }, () => one(rand));
}
