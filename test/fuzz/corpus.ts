import { DEMO_CLIENT_ORG, DEMO_SERVER_ORG } from '../../src/demo.js';
import { mulberry32 } from '../../src/random.js';

/**
 * A seeded corpus of hostile ingest bodies (issue #8), for every ingest route: deep nesting, out-of-range numbers,
 * prototype-named keys, objects/arrays/null/booleans in scalar fields, JSON-in-a-string fields, huge strings, broken
 * NDJSON, empty bodies, wrong content types. Each body says what must become of it and of each of its items, so a
 * test can assert that valid neighbours were stored and refused items quarantined.
 *
 *   hostileBody(seed, index)       one body, built on demand (a soak can stream 100 000 of them in constant memory)
 *   hostileBodies(seed, count)     the first `count`
 *
 * Deterministic: the same (seed, index, options.now) gives the same body, byte for byte. Only timestamps follow
 * `now` (reports must be within the PCM's 7-day window); ids, shapes, formats and mutations follow the seed.
 *
 * Coverage: every CYCLE_LENGTH bodies hold one "mutated" body per route, and the mutated bodies walk a systematic list
 * of cases — every field (leaf or object, at every depth, gateway sub-objects and additionalInfo included) × every
 * hostile value, every object × every prototype-named key, every field dropped — so that after FULL_COVERAGE_BODIES
 * bodies each case has been sent once. Past that the cases repeat, combined two or three to an item.
 *
 * The sidecar under test must know CORPUS_ORGS (clientSSId need not be configured: every CLIENT item carries one).
 */

export const INGEST_ROUTES = ['/v1/reports', '/v1/interactions', '/v1/gateways/kong', '/v1/gateways/envoy', '/v1/gateways/nginx'] as const;
export type IngestRoute = (typeof INGEST_ROUTES)[number];
export type Role = 'CLIENT' | 'SERVER';

export const CORPUS_CLIENT_ORG = DEMO_CLIENT_ORG;
export const CORPUS_SERVER_ORG = DEMO_SERVER_ORG;
/** The organisations the sidecar must be configured with for the valid items to be stored. */
export const CORPUS_ORGS = [CORPUS_CLIENT_ORG, CORPUS_SERVER_ORG] as const;
export const CORPUS_CLIENT_SSID = 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

/**
 * What must become of one item:
 *   stored  — accepted (or a duplicate of one stored before): findable in the spool by `fapiInteractionId`;
 *   refused — rejected, and kept in quarantine with its reason;
 *   any     — either of those (or skipped): the point is that it gets an answer and costs its neighbours nothing.
 */
export type ItemExpectation = 'stored' | 'refused' | 'any';

export interface CorpusItem {
  expect: ItemExpectation;
  /** The x-fapi-interaction-id the item was built with (lower case), when it has one; for `stored`, always. */
  fapiInteractionId: string | null;
  /** What was done to it, e.g. `valid`, `set started_at = 1e20`, `add additionalInfo.__proto__ = {}`. */
  note: string;
}

export type BodyKind =
  | 'mutated'
  | 'deep-array-body'
  | 'deep-object-body'
  | 'deep-among-valid'
  | 'broken-ndjson'
  | 'empty'
  | 'wrong-content-type'
  | 'scalar-body'
  | 'huge-strings'
  | 'format-confusion'
  | 'prototype-everywhere'
  | 'control-characters'
  | 'too-large'
  | 'too-many-items';

export interface HostileBody {
  seed: number;
  index: number;
  kind: BodyKind;
  route: IngestRoute;
  /** route + query string: what to POST to. */
  path: string;
  /** The Content-Type header to send; '' means none. */
  contentType: string;
  body: string;
  /**
   * items   — read item by item: a 2xx answer (202, or 207 / ?partialStatus= when some were refused), one result per item;
   * refused — refused as a whole with a 4xx (400, 413, 415), and the body kept in quarantine with the reason.
   */
  expect: 'items' | 'refused';
  /** One per item the sidecar will read, in order (empty for a refused body, and for a body with no items). */
  items: CorpusItem[];
  /** How many items are `stored`. */
  validItems: number;
}

export interface CorpusOptions {
  /** The clock the timestamps are relative to; Date.now() when absent. */
  now?: number;
  /** The sidecar's PCM_INGEST_MAX_BODY_BYTES: when given, some bodies are one byte over it (413). */
  maxBodyBytes?: number;
  /** The sidecar's PCM_INGEST_MAX_ITEMS_PER_REQUEST: when given, some bodies have one item too many (413). */
  maxItemsPerRequest?: number;
}

/** The fapiInteractionIds of a body's `stored` items. */
export function storedIds(body: HostileBody): string[] {
  return body.items.filter((i) => i.expect === 'stored').map((i) => i.fapiInteractionId as string);
}

// ───────────────────────────────────────────── randomness ─────────────────────────────────────────────

type Rng = () => number;

/** A well-mixed 32-bit integer from (seed, index): neighbouring indices get unrelated streams. */
function mix(seed: number, index: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index >>> 0, 0x85ebca6b)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)] as T;
const between = (rng: Rng, min: number, max: number): number => min + Math.floor(rng() * (max - min + 1));

function uuid(rng: Rng): string {
  const hex = (n: number): string => Array.from({ length: n }, () => '0123456789abcdef'[Math.floor(rng() * 16)]).join('');
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[Math.floor(rng() * 4)]}${hex(3)}-${hex(12)}`;
}

// ───────────────────────────────────────────── valid items ─────────────────────────────────────────────

type Json = Record<string, unknown>;

const ENDPOINT = '/open-banking/accounts/v2/accounts/{accountId}/balances';
const SERVER_HOST = 'api.banco-servidor.com.br';
const PATH = '/opbk/open-banking/accounts/v2/accounts/123/balances';
const CONSENT = 'urn:bancoservidor:C1DD93123';
const TOKEN_ID = 'c9ng8aKzxNXm';
const CALLER_DN = `CN=tpp.banco-cliente.com.br,OU=${CORPUS_CLIENT_ORG},O=Banco Cliente S.A.,L=S\\C3\\A3o Paulo,ST=SP,C=BR`;
const SERVER_DN = `CN=${SERVER_HOST},OU=${CORPUS_SERVER_ORG},O=Banco Servidor S.A.,L=Rio de Janeiro,ST=RJ,C=BR`;

/** What varies between two valid items of the same route and role. */
export interface ItemFacts {
  fapiInteractionId: string;
  /** When the call started, epoch ms. */
  startMs: number;
  /** Its duration, ms (≥ 1). */
  durationMs: number;
}

/**
 * A valid item for `route` as the gateway (or the participant) sends it: stored by a sidecar that knows CORPUS_ORGS,
 * with no discard finding and no quality finding. A fresh object each call.
 */
export function validItem(route: IngestRoute, role: Role, facts: ItemFacts): Json {
  const { fapiInteractionId: id, startMs, durationMs } = facts;
  const iso = new Date(startMs).toISOString();
  const info = { consentId: CONSENT, tokenId: TOKEN_ID };
  switch (route) {
    case '/v1/reports': {
      const common = {
        fapiInteractionId: id,
        endpoint: ENDPOINT,
        statusCode: 200,
        httpMethod: 'GET',
        timestamp: iso,
        processTimespan: durationMs,
        clientOrgId: CORPUS_CLIENT_ORG,
        serverOrgId: CORPUS_SERVER_ORG,
      };
      return role === 'CLIENT'
        ? { role, ...common, clientSSId: CORPUS_CLIENT_SSID, endpointUriPrefix: `https://${SERVER_HOST}/opbk`, correlationId: 'jornada-7f3a', additionalInfo: info }
        : { role, ...common };
    }
    case '/v1/interactions':
      return role === 'CLIENT'
        ? {
            role,
            method: 'GET',
            url: `https://${SERVER_HOST}${PATH}?page=1`,
            status: 200,
            startTime: iso,
            durationMs,
            fapiInteractionId: id,
            counterpartyOrgId: CORPUS_SERVER_ORG,
            orgId: CORPUS_CLIENT_ORG,
            clientSSId: CORPUS_CLIENT_SSID,
            correlationId: 'jornada-7f3a',
            additionalInfo: info,
          }
        : {
            role,
            method: 'GET',
            url: PATH,
            status: 200,
            startTime: startMs,
            durationSeconds: durationMs / 1000,
            fapiInteractionId: id,
            counterpartyOrgId: CORPUS_CLIENT_ORG,
            orgId: CORPUS_SERVER_ORG,
            date: startMs / 1000,
          };
    case '/v1/gateways/kong':
      return role === 'CLIENT'
        ? {
            request: {
              uri: `/egress/banco-servidor${PATH.slice('/opbk'.length)}`,
              url: `http://kong-egress.gateway.svc.cluster.local:8000/egress/banco-servidor${PATH.slice('/opbk'.length)}`,
              querystring: {},
              method: 'GET',
              headers: { host: 'kong-egress.gateway.svc.cluster.local:8000', accept: 'application/json', 'x-fapi-interaction-id': id },
              size: 1102,
            },
            upstream_uri: PATH,
            response: { status: 200, size: 845, headers: { 'content-type': 'application/json', 'x-fapi-interaction-id': id } },
            latencies: { kong: 2, proxy: durationMs, request: durationMs + 3, receive: 1 },
            tries: [{ balancer_start: startMs + 2, ip: '200.185.19.4', port: 443, balancer_latency: 0 }],
            client_ip: '10.42.7.31',
            started_at: startMs,
            source: 'upstream',
            service: { name: 'egress-banco-servidor', protocol: 'https', host: SERVER_HOST, port: 443, path: '/opbk', retries: 0 },
            pcm: {
              role,
              counterpartyOrgId: CORPUS_SERVER_ORG,
              orgId: CORPUS_CLIENT_ORG,
              clientSSId: CORPUS_CLIENT_SSID,
              correlationId: 'jornada-7f3a',
              additionalInfo: JSON.stringify(info),
            },
          }
        : {
            request: {
              uri: PATH,
              url: `https://${SERVER_HOST}:8443${PATH}`,
              querystring: { page: '1' },
              method: 'GET',
              headers: { host: SERVER_HOST, 'user-agent': 'okhttp/4.12.0', 'x-fapi-interaction-id': id, 'x-forwarded-for': ['187.45.201.9', '10.0.0.1'] },
              size: 1468,
              tls: { version: 'TLSv1.2', client_verify: 'NONE' },
            },
            upstream_uri: '/open-banking/accounts/v2/accounts/123/balances',
            response: { status: 200, size: 861, headers: { 'content-type': 'application/json; charset=utf-8', 'x-fapi-interaction-id': id } },
            latencies: { kong: 3, proxy: durationMs - 4 > 0 ? durationMs - 4 : 0, request: durationMs, receive: 1 },
            client_ip: '10.0.12.7',
            started_at: startMs,
            source: 'upstream',
            service: { name: 'accounts-api', protocol: 'http', host: 'accounts-api.core.svc.cluster.local', port: 8080 },
            pcm: { role, counterpartyOrgId: CORPUS_CLIENT_ORG, orgId: CORPUS_SERVER_ORG },
          };
    case '/v1/gateways/envoy':
      return role === 'CLIENT'
        ? {
            authority: SERVER_HOST,
            downstream_peer_subject: '-',
            duration: String(durationMs + 3),
            fapi_interaction_id: id,
            fapi_interaction_id_response: id,
            method: 'GET',
            path: PATH,
            pcm_additional_info: JSON.stringify(info),
            pcm_client_ssid: CORPUS_CLIENT_SSID,
            pcm_correlation_id: 'jornada-7f3a',
            pcm_counterparty_org_id: CORPUS_SERVER_ORG,
            pcm_org_id: CORPUS_CLIENT_ORG,
            pcm_role: role,
            response_code: '200',
            response_duration: String(durationMs),
            response_flags: '-',
            scheme: 'http',
            start_time: iso,
            upstream_path: PATH,
            upstream_peer_subject: SERVER_DN,
            upstream_tls_version: 'TLSv1.2',
          }
        : {
            authority: SERVER_HOST,
            downstream_peer_subject: CALLER_DN,
            duration: durationMs,
            fapi_interaction_id: id,
            fapi_interaction_id_response: id,
            method: 'GET',
            path: PATH,
            pcm_additional_info: null,
            pcm_org_id: CORPUS_SERVER_ORG,
            pcm_role: role,
            response_code: 200,
            response_duration: durationMs > 4 ? durationMs - 4 : 1,
            response_flags: '-',
            scheme: 'https',
            start_time: iso,
            upstream_path: '/open-banking/accounts/v2/accounts/123/balances',
            upstream_tls_version: 'TLSv1.3',
          };
    case '/v1/gateways/nginx': {
      // $msec is the END of the request in epoch seconds with milliseconds; $request_time is in seconds.
      const msec = ((startMs + durationMs) / 1000).toFixed(3);
      const requestTime = (durationMs / 1000).toFixed(3);
      return role === 'CLIENT'
        ? {
            pcm_role: role,
            msec,
            request_time: requestTime,
            upstream_header_time: (Math.max(1, durationMs - 2) / 1000).toFixed(3),
            status: '200',
            upstream_status: '200',
            request_method: 'GET',
            upstream_url: `https://${SERVER_HOST}${PATH}`,
            request_uri: PATH,
            upstream_addr: '200.185.19.4:443',
            http_x_fapi_interaction_id: id,
            upstream_http_x_fapi_interaction_id: id,
            pcm_org_id: CORPUS_CLIENT_ORG,
            pcm_counterparty_org_id: CORPUS_SERVER_ORG,
            pcm_client_ssid: CORPUS_CLIENT_SSID,
            pcm_correlation_id: 'jornada-7f3a',
            pcm_additional_info: JSON.stringify(info),
            request_id: '994179e77ea9ff9351fcea477f12fa9f',
          }
        : {
            pcm_role: role,
            msec,
            request_time: requestTime,
            upstream_header_time: (Math.max(1, durationMs - 3) / 1000).toFixed(3),
            status: '200',
            upstream_status: '200',
            request_method: 'GET',
            scheme: 'https',
            host: SERVER_HOST,
            request_uri: PATH,
            http_x_fapi_interaction_id: id,
            sent_http_x_fapi_interaction_id: id,
            ssl_client_s_dn: CALLER_DN,
            ssl_client_verify: 'SUCCESS',
            pcm_org_id: CORPUS_SERVER_ORG,
            pcm_additional_info: '',
            request_id: 'f503efc780ed438998e4678c8f9bff61',
          };
    }
  }
}

function randomFacts(rng: Rng, now: number): ItemFacts {
  // Within the last minute (the PCM keeps 7 days and allows 5 minutes ahead); whole ms, at least 10 ms long.
  return { fapiInteractionId: uuid(rng), startMs: now - 2000 - between(rng, 0, 60_000), durationMs: between(rng, 10, 900) };
}

// ───────────────────────────────────────────── paths and edits ─────────────────────────────────────────────

export type Path = readonly (string | number)[];

export function pathText(path: Path): string {
  return path.length === 0 ? '(item)' : path.map(String).join('.');
}

/** Every node under the root (objects, arrays and leaves), depth first, keys in order. */
export function nodePaths(value: unknown): Path[] {
  const out: Path[] = [];
  const visit = (node: unknown, path: Path): void => {
    if (node === null || typeof node !== 'object') return;
    const entries: [string | number, unknown][] = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node);
    for (const [key, child] of entries) {
      out.push([...path, key]);
      visit(child, [...path, key]);
    }
  };
  visit(value, []);
  return out;
}

/** The root and every (non-array) object under it. */
export function objectPaths(value: unknown): Path[] {
  const root: Path[] = value !== null && typeof value === 'object' && !Array.isArray(value) ? [[]] : [];
  return [...root, ...nodePaths(value).filter((p) => isObject(at(value, p)))];
}

/** Paths whose value is a string holding a JSON object (x-pcm-additional-info as the gateways log it). */
export function jsonStringPaths(value: unknown): Path[] {
  return nodePaths(value).filter((p) => {
    const v = at(value, p);
    return typeof v === 'string' && v.startsWith('{');
  });
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function at(value: unknown, path: Path): unknown {
  let node = value;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = Object.hasOwn(node, key) ? (node as Record<string | number, unknown>)[key] : undefined;
  }
  return node;
}

/** An own, enumerable data property, whatever the key: `__proto__` included (as JSON.parse makes it). */
function define(target: object, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A deep copy that keeps every own key (a `__proto__` key stays a key). Recursive: for items, not for deep values. */
export function clone<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => clone(v)) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [key, child] of Object.entries(value)) define(out, key, clone(child));
  return out as T;
}

/** A copy of `value` with the node at `path` replaced (path must exist); the root itself when path is empty. */
export function setAt(value: unknown, path: Path, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const copy = clone(value);
  const parent = at(copy, path.slice(0, -1));
  if (parent !== null && typeof parent === 'object') define(parent, path[path.length - 1] as string | number, replacement);
  return copy;
}

/** A copy of `value` with `key` added (or replaced) in the object at `path`. */
export function addKeyAt(value: unknown, path: Path, key: string, added: unknown): unknown {
  const copy = clone(value);
  const target = at(copy, path);
  if (isObject(target)) define(target, key, added);
  return copy;
}

/** A copy of `value` without the node at `path` (an array element is removed, shifting the rest). */
export function dropAt(value: unknown, path: Path): unknown {
  if (path.length === 0) return value;
  const copy = clone(value);
  const parent = at(copy, path.slice(0, -1));
  const key = path[path.length - 1] as string | number;
  if (Array.isArray(parent) && typeof key === 'number') parent.splice(key, 1);
  else if (isObject(parent)) delete parent[key];
  return copy;
}

// ───────────────────────────────────────────── hostile values ─────────────────────────────────────────────

/**
 * Hostile values as JSON text, so that what JSON.stringify cannot write (1e400, -0, a 30-digit integer, deep nesting)
 * still reaches the wire. `JSON.parse(text)` gives the value the sidecar sees (1e400 → Infinity).
 */
export const HOSTILE_NUMBERS = [
  '1e20',
  '-1e20',
  '1e308',
  '-1e308',
  '1e400',
  '-1e400',
  '-0',
  '123456789012345678901234567890',
  '-9007199254740993',
  '1e-400',
  '0.5',
] as const;

export const HOSTILE_SHAPES = [
  'null',
  'true',
  'false',
  '{}',
  '[]',
  '[null]',
  '["CLIENT"]',
  '{"toString":1}',
  '{"valueOf":{}}',
  '{"toString":{},"valueOf":{},"hasOwnProperty":1}',
  '{"__proto__":{"polluted":1}}',
  '{"constructor":{"prototype":{"polluted":1}}}',
  '""',
  '" "',
  '"-"',
  '"\\u0000"',
  '"\\ud800"',
  '"1e400"',
  '"__proto__"',
  '"toString"',
] as const;

/** JSON strings holding JSON, for the fields the mappings parse again (pcm.additionalInfo, pcm_additional_info). */
export const HOSTILE_JSON_STRINGS = [
  JSON.stringify('{"__proto__":{"consentId":"urn:a:b"},"consentId":"urn:bancoservidor:C1","tokenId":"c9ng8aKzxNXm"}'),
  JSON.stringify('{"constructor":"x","toString":"y","valueOf":"z","hasOwnProperty":"w","consentId":"urn:bancoservidor:C1"}'),
  JSON.stringify('{"consentId":{"toString":1},"tokenId":{"valueOf":{}}}'),
  JSON.stringify('{"consentId":1e400,"tokenId":-0}'),
  JSON.stringify('[{"consentId":"urn:bancoservidor:C1"}]'),
  JSON.stringify('{"consentId":"urn:bancoservidor:C1"'),
  JSON.stringify('{}'),
] as const;

export const DEPTH_OVER_LIMIT = 40;
export const DEPTH_HOSTILE = 5000;
export const deepArrayText = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
export const deepObjectText = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

/** Nesting deeper than the body parser's limit (MAX_ITEM_DEPTH = 32): the item is refused whatever the route. */
const DEEP_VALUES = [deepArrayText(DEPTH_OVER_LIMIT), deepObjectText(DEPTH_OVER_LIMIT), deepArrayText(DEPTH_HOSTILE), deepObjectText(DEPTH_HOSTILE)];
/** The same inside a JSON string a mapping parses: refused too (the parsed value is nested as deep). */
const DEEP_JSON_STRINGS = [JSON.stringify(`{"consentId":${deepArrayText(DEPTH_HOSTILE)}}`), JSON.stringify(`{"a":${deepObjectText(DEPTH_HOSTILE)}}`)];

/** Keys that name Object.prototype members (and two that matter to JSON/JS semantics). */
export const PROTOTYPE_KEYS = [
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__lookupGetter__',
  'prototype',
  'toJSON',
] as const;
const PROTOTYPE_VALUES = ['1', '"x"', '{}', 'null', '{"polluted":1}', '[]', 'true', '{"toString":1}'];

// ───────────────────────────────────────────── systematic cases ─────────────────────────────────────────────

type Edit =
  | { op: 'set'; path: Path; text: string }
  | { op: 'add'; path: Path; key: string; text: string }
  | { op: 'drop'; path: Path };

interface Case {
  role: Role;
  edit: Edit;
  /** The item can only be refused (deep nesting). */
  refused: boolean;
}

const SAMPLE_FACTS: ItemFacts = { fapiInteractionId: '00000000-0000-4000-8000-000000000000', startMs: Date.UTC(2026, 0, 8, 12), durationMs: 88 };

function casesFor(route: IngestRoute): Case[] {
  const cases: Case[] = [];
  for (const role of ['CLIENT', 'SERVER'] as const) {
    const item = validItem(route, role, SAMPLE_FACTS);
    const paths = nodePaths(item);
    for (const path of paths) {
      for (const text of [...HOSTILE_NUMBERS, ...HOSTILE_SHAPES]) cases.push({ role, edit: { op: 'set', path, text }, refused: false });
      for (const text of DEEP_VALUES) cases.push({ role, edit: { op: 'set', path, text }, refused: true });
      cases.push({ role, edit: { op: 'drop', path }, refused: false });
    }
    for (const path of jsonStringPaths(item)) {
      for (const text of HOSTILE_JSON_STRINGS) cases.push({ role, edit: { op: 'set', path, text }, refused: false });
      for (const text of DEEP_JSON_STRINGS) cases.push({ role, edit: { op: 'set', path, text }, refused: true });
    }
    objectPaths(item).forEach((path, o) => {
      PROTOTYPE_KEYS.forEach((key, k) => {
        cases.push({ role, edit: { op: 'add', path, key, text: PROTOTYPE_VALUES[(o + k) % PROTOTYPE_VALUES.length] as string }, refused: false });
      });
    });
  }
  return cases;
}

const CASES: ReadonlyMap<IngestRoute, readonly Case[]> = new Map(INGEST_ROUTES.map((route) => [route, casesFor(route)]));

/** Cycles after which every systematic case has been sent once. */
export const COVERAGE_CYCLES = 120;
/** Bodies per cycle: one mutated body per route, then SPECIAL_SLOTS bodies of the other kinds. */
const SPECIAL_SLOTS = 3;
export const CYCLE_LENGTH = INGEST_ROUTES.length + SPECIAL_SLOTS;
/** After this many bodies, every (route, field, hostile value) case has been sent at least once. */
export const FULL_COVERAGE_BODIES = COVERAGE_CYCLES * CYCLE_LENGTH;

/** How many systematic cases each route has (fields × values, objects × prototype keys, drops). */
export function systematicCaseCounts(): Record<IngestRoute, number> {
  return Object.fromEntries(INGEST_ROUTES.map((r) => [r, CASES.get(r)?.length ?? 0])) as Record<IngestRoute, number>;
}

// ───────────────────────────────────────────── writing bodies ─────────────────────────────────────────────

/** Items as JS values with raw-text placeholders, written as JSON or NDJSON with the placeholders put back. */
class Writer {
  private readonly raws: string[] = [];

  /** A placeholder that comes out as `text`, verbatim, where a JSON value stands. */
  raw(text: string): string {
    this.raws.push(text);
    return `\u0001R${this.raws.length - 1}\u0001`;
  }

  private restore(json: string): string {
    return json.replace(/"\\u0001R(\d+)\\u0001"/g, (_, n: string) => this.raws[Number(n)] as string);
  }

  json(items: readonly unknown[]): string {
    return this.restore(JSON.stringify(items));
  }

  ndjson(items: readonly unknown[], separator = '\n'): string {
    return items.map((item) => this.restore(JSON.stringify(item))).join(separator);
  }
}

function applyEdit(item: unknown, edit: Edit, raw: (text: string) => string): unknown {
  switch (edit.op) {
    case 'set':
      return setAt(item, edit.path, raw(edit.text));
    case 'add':
      return addKeyAt(item, edit.path, edit.key, raw(edit.text));
    case 'drop':
      return dropAt(item, edit.path);
  }
}

function editNote(edit: Edit): string {
  switch (edit.op) {
    case 'set':
      return `set ${pathText(edit.path)} = ${edit.text.length > 40 ? `${edit.text.slice(0, 40)}… (${edit.text.length} chars)` : edit.text}`;
    case 'add':
      return `add ${pathText([...edit.path, edit.key])} = ${edit.text}`;
    case 'drop':
      return `drop ${pathText(edit.path)}`;
  }
}

const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', ''];
const NDJSON_TYPES = ['application/x-ndjson', 'application/jsonl', 'application/jsonlines', 'application/x-ndjson; charset=utf-8'];
const WRONG_TYPES = ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/json-seq', 'json', '*/*'];
/** Query strings that must change nothing for items that say their role and organisation themselves. */
const QUERIES = ['', '', '', '?role=__proto__', '?role=constructor', '?orgId=__proto__', '?partialStatus=202', '?partialStatus=1e400', '?toString=1&valueOf=2', '?role=SERVER&role=CLIENT', '?orgId=%E0%A4%A'];

type Format = 'json' | 'ndjson';

interface Built {
  kind: BodyKind;
  route: IngestRoute;
  format: Format;
  body: string;
  expect: 'items' | 'refused';
  items: CorpusItem[];
  contentType?: string;
  query?: string;
}

const validEntry = (facts: ItemFacts): CorpusItem => ({ expect: 'stored', fapiInteractionId: facts.fapiInteractionId, note: 'valid' });

/** Valid items and others (value, expectation) shuffled together, written in `format`. */
function mixed(rng: Rng, route: IngestRoute, format: Format, now: number, others: { value: unknown; item: CorpusItem }[], writer: Writer, valid = between(rng, 1, 3)) {
  const entries: { value: unknown; item: CorpusItem }[] = [...others];
  for (let v = 0; v < valid; v++) {
    const facts = randomFacts(rng, now);
    entries.splice(between(rng, 0, entries.length), 0, { value: validItem(route, pick(rng, ['CLIENT', 'SERVER'] as const), facts), item: validEntry(facts) });
  }
  const values = entries.map((e) => e.value);
  return { body: format === 'json' ? writer.json(values) : writer.ndjson(values, rng() < 0.2 ? '\r\n' : '\n'), items: entries.map((e) => e.item) };
}

function mutatedBody(rng: Rng, route: IngestRoute, cycle: number, now: number): Built {
  const cases = CASES.get(route) as readonly Case[];
  const perBody = Math.ceil(cases.length / COVERAGE_CYCLES);
  const writer = new Writer();
  const others: { value: unknown; item: CorpusItem }[] = [];
  for (let k = 0; k < perBody; k++) {
    const first = cases[(cycle * perBody + k) % cases.length] as Case;
    // Past full coverage, each item carries two or three cases of its role.
    const extra = cycle >= COVERAGE_CYCLES ? between(rng, 1, 2) : 0;
    const edits = [first, ...Array.from({ length: extra }, () => pick(rng, cases)).filter((c) => c.role === first.role)];
    const facts = randomFacts(rng, now);
    let value: unknown = validItem(route, first.role, facts);
    // A deep value makes the item refused only if it is still there: a later edit may replace its parent, or an
    // earlier one may have removed the path it was set at.
    const deep: string[] = [];
    for (const c of edits) {
      value = applyEdit(value, c.edit, (text) => {
        const marker = writer.raw(text);
        if (c.refused) deep.push(JSON.stringify(marker).slice(1, -1));
        return marker;
      });
    }
    const written = JSON.stringify(value);
    others.push({
      value,
      item: { expect: deep.some((m) => written.includes(m)) ? 'refused' : 'any', fapiInteractionId: facts.fapiInteractionId, note: edits.map((c) => editNote(c.edit)).join('; ') },
    });
  }
  const format: Format = rng() < 0.5 ? 'json' : 'ndjson';
  return { kind: 'mutated', route, format, expect: 'items', ...mixed(rng, route, format, now, others, writer) };
}

const refusedItem = (note: string): CorpusItem => ({ expect: 'refused', fapiInteractionId: null, note });

/** What the sidecar makes of one NDJSON line, as far as the corpus can tell without the sidecar's code. */
function lineExpectation(line: string, note: string): CorpusItem | null {
  const text = line.trim();
  if (text === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return refusedItem(`${note}: not JSON`);
  }
  return isObject(value) ? { expect: 'any', fapiInteractionId: null, note: `${note}: an object` } : refusedItem(`${note}: not an object`);
}

const SPECIAL_KINDS: readonly Exclude<BodyKind, 'mutated'>[] = [
  'deep-array-body',
  'deep-object-body',
  'deep-among-valid',
  'broken-ndjson',
  'empty',
  'wrong-content-type',
  'scalar-body',
  'huge-strings',
  'format-confusion',
  'prototype-everywhere',
  'control-characters',
  'too-large',
  'too-many-items',
];

function specialBody(rng: Rng, kind: Exclude<BodyKind, 'mutated'>, route: IngestRoute, now: number, options: CorpusOptions): Built {
  const writer = new Writer();
  const format: Format = rng() < 0.5 ? 'json' : 'ndjson';
  const role = (): Role => pick(rng, ['CLIENT', 'SERVER'] as const);
  switch (kind) {
    case 'deep-array-body': {
      const depth = pick(rng, [DEPTH_OVER_LIMIT, DEPTH_HOSTILE, 20_000]);
      // JSON: the outer array is the body; its one item is nested depth − 1 deep. NDJSON: one line, one item.
      return { kind, route, format, body: deepArrayText(depth), expect: 'items', items: [refusedItem(`[×${depth}`)] };
    }
    case 'deep-object-body': {
      const depth = pick(rng, [DEPTH_OVER_LIMIT, DEPTH_HOSTILE, 20_000]);
      const body = deepObjectText(depth);
      return format === 'json'
        ? { kind, route, format, body, expect: 'refused', items: [] }
        : { kind, route, format, body, expect: 'items', items: [refusedItem(`{"a": ×${depth}`)] };
    }
    case 'deep-among-valid': {
      const others = [
        { value: writer.raw(deepArrayText(DEPTH_HOSTILE)), item: refusedItem(`[×${DEPTH_HOSTILE}`) },
        { value: writer.raw(deepObjectText(DEPTH_HOSTILE)), item: refusedItem(`{"a": ×${DEPTH_HOSTILE}`) },
        { value: { ...validItem(route, role(), randomFacts(rng, now)), deep: writer.raw(deepArrayText(DEPTH_OVER_LIMIT)) }, item: refusedItem('a valid item with a deep extra key') },
      ];
      return { kind, route, format, expect: 'items', ...mixed(rng, route, format, now, others, writer, between(rng, 2, 4)) };
    }
    case 'broken-ndjson': {
      const lines: { text: string; item: CorpusItem | null }[] = [];
      const broken = [
        '{"role":"CLIENT",',
        '{"a":1}}',
        '{',
        ']',
        'NaN',
        '{"a":NaN}',
        '{"a":1e400 ]',
        "{'single':'quotes'}",
        '{"a":"unterminated',
        '\u0000\u0001\u0002',
        '\uFEFF{"a":1}',
        '{"a":1} {"b":2}',
        'null',
        '42',
        '"a string"',
        '[{"role":"CLIENT"}]',
        deepArrayText(DEPTH_HOSTILE),
        '\t',
        '',
        '   ',
      ];
      const count = between(rng, 3, 8);
      for (let i = 0; i < count; i++) {
        const text = pick(rng, broken);
        lines.push({ text, item: lineExpectation(text, `line ${JSON.stringify(text.slice(0, 20))}`) });
      }
      for (let v = between(rng, 1, 3); v > 0; v--) {
        const facts = randomFacts(rng, now);
        lines.splice(between(rng, 0, lines.length), 0, { text: JSON.stringify(validItem(route, role(), facts)), item: validEntry(facts) });
      }
      // A line cut short at the very end of the body, without its newline.
      const tail = JSON.stringify(validItem(route, role(), randomFacts(rng, now)));
      const cut = tail.slice(0, between(rng, 1, tail.length - 2));
      lines.push({ text: cut, item: lineExpectation(cut, 'the last line, cut short') });
      return { kind, route, format: 'ndjson', body: lines.map((l) => l.text).join(rng() < 0.3 ? '\r\n' : '\n'), expect: 'items', items: lines.flatMap((l) => (l.item ? [l.item] : [])) };
    }
    case 'empty': {
      const variant = pick(rng, ['', ' ', '\n\n', '[]', '{}', '[{}]', '[[]]']);
      const items = (v: string): CorpusItem[] => (v === '{}' || v === '[{}]' ? [refusedItem('{}')] : v === '[[]]' ? [refusedItem('[]')] : []);
      if (format === 'json') {
        return variant.trim() === ''
          ? { kind, route, format, body: variant, expect: 'refused', items: [] }
          : { kind, route, format, body: variant, expect: 'items', items: items(variant) };
      }
      const lineItems = variant.trim() === '' ? [] : [lineExpectation(variant, 'line') as CorpusItem];
      return { kind, route, format, body: variant, expect: 'items', items: lineItems.map((i) => (variant === '{}' ? refusedItem('{}') : i)) };
    }
    case 'wrong-content-type': {
      const facts = randomFacts(rng, now);
      return { kind, route, format: 'json', contentType: pick(rng, WRONG_TYPES), body: JSON.stringify([validItem(route, role(), facts)]), expect: 'refused', items: [] };
    }
    case 'scalar-body': {
      if (format === 'json' && rng() < 0.5) {
        return { kind, route, format, body: pick(rng, ['1', '"report"', 'null', 'true', 'false', '1e400', '-0', '"\\ud800"']), expect: 'refused', items: [] };
      }
      const scalars = ['1', '"x"', 'null', 'true', '[]', '1e400', '-0', '[{"role":"CLIENT"}]'];
      const chosen = Array.from({ length: between(rng, 1, 5) }, () => pick(rng, scalars));
      const others = chosen.map((text) => ({ value: writer.raw(text), item: refusedItem(`scalar ${text}`) }));
      return { kind, route, format, expect: 'items', ...mixed(rng, route, format, now, others, writer) };
    }
    case 'huge-strings': {
      const facts = randomFacts(rng, now);
      const base = validItem(route, role(), facts);
      const stringPaths = nodePaths(base).filter((p) => typeof at(base, p) === 'string');
      let value: unknown = base;
      const notes: string[] = [];
      for (let n = between(rng, 1, 2); n > 0; n--) {
        const path = pick(rng, stringPaths);
        const size = pick(rng, [70_000, 200_000]);
        value = setAt(value, path, pick(rng, ['x', '\u00e9', '\\', '"', '{']).repeat(size));
        notes.push(`${pathText(path)} = ${size} characters`);
      }
      // A huge key, too.
      value = addKeyAt(value, [], 'k'.repeat(50_000), 'v');
      const others = [{ value, item: { expect: 'any' as const, fapiInteractionId: facts.fapiInteractionId, note: `huge strings: ${notes.join(', ')}` } }];
      return { kind, route, format, expect: 'items', ...mixed(rng, route, format, now, others, writer) };
    }
    case 'format-confusion': {
      const facts = [randomFacts(rng, now), randomFacts(rng, now)];
      const values = facts.map((f) => validItem(route, role(), f));
      const variant = between(rng, 0, 2);
      if (variant === 0) {
        // A JSON array sent as NDJSON: one line holding an array, refused as one item.
        return { kind, route, format: 'ndjson', body: JSON.stringify(values), expect: 'items', items: [refusedItem('an array on one NDJSON line')] };
      }
      if (variant === 1) {
        // Pretty-printed JSON sent as NDJSON: every line is read alone.
        const body = JSON.stringify(values, null, 2);
        return { kind, route, format: 'ndjson', body, expect: 'items', items: body.split('\n').flatMap((l) => lineExpectation(l, 'pretty-printed line') ?? []) };
      }
      // NDJSON sent as JSON: not one JSON document.
      return { kind, route, format: 'json', body: values.map((v) => JSON.stringify(v)).join('\n'), expect: 'refused', items: [] };
    }
    case 'prototype-everywhere': {
      const facts = randomFacts(rng, now);
      let value: unknown = validItem(route, role(), facts);
      for (const path of objectPaths(value)) {
        for (const key of PROTOTYPE_KEYS) if (rng() < 0.5) value = addKeyAt(value, path, key, writer.raw(pick(rng, PROTOTYPE_VALUES)));
      }
      const others = [{ value, item: { expect: 'any' as const, fapiInteractionId: facts.fapiInteractionId, note: 'prototype keys in every object' } }];
      return { kind, route, format, expect: 'items', ...mixed(rng, route, format, now, others, writer) };
    }
    case 'control-characters': {
      const facts = randomFacts(rng, now);
      const base = validItem(route, role(), facts);
      const stringPaths = nodePaths(base).filter((p) => typeof at(base, p) === 'string');
      const path = pick(rng, stringPaths);
      const text = pick(rng, ['\u0000', '\ud800', '\udfff\ud800', '\u202e', '\r\n', '\u2028\u2029', 'a\u0000b']);
      const edited = setAt(base, path, `${String(at(base, path))}${text}`);
      // A key written twice: JSON.parse keeps the last, a hostile object.
      const duplicated = writer.raw(`${JSON.stringify(validItem(route, role(), randomFacts(rng, now))).slice(0, -1)},"role":{"toString":1},"pcm_role":{"valueOf":{}}}`);
      const others = [
        { value: edited, item: { expect: 'any' as const, fapiInteractionId: facts.fapiInteractionId, note: `control characters in ${pathText(path)}` } },
        { value: duplicated, item: { expect: 'any' as const, fapiInteractionId: null, note: 'a key written twice' } },
      ];
      return { kind, route, format, expect: 'items', ...mixed(rng, route, format, now, others, writer) };
    }
    case 'too-large': {
      if (options.maxBodyBytes === undefined) return specialBody(rng, 'deep-among-valid', route, now, options);
      const facts = randomFacts(rng, now);
      const item = JSON.stringify({ ...validItem(route, role(), facts), padding: '' });
      const padding = 'p'.repeat(Math.max(0, options.maxBodyBytes + 1 - Buffer.byteLength(item) - 2));
      // `…,"padding":""}` → `…,"padding":"ppp…"}`: exactly one byte over the limit.
      return { kind, route, format: 'json', body: `[${item.slice(0, -2)}${padding}"}]`, expect: 'refused', items: [] };
    }
    case 'too-many-items': {
      if (options.maxItemsPerRequest === undefined) return specialBody(rng, 'broken-ndjson', route, now, options);
      const body = `[${Array.from({ length: options.maxItemsPerRequest + 1 }, () => '{}').join(',')}]`;
      return { kind, route, format: 'json', body, expect: 'refused', items: [] };
    }
  }
}

/** Body `index` of the corpus of `seed`. */
export function hostileBody(seed: number, index: number, options: CorpusOptions = {}): HostileBody {
  const rng = mulberry32(mix(seed, index));
  const now = options.now ?? Date.now();
  const cycle = Math.floor(index / CYCLE_LENGTH);
  const slot = index % CYCLE_LENGTH;
  let built: Built;
  if (slot < INGEST_ROUTES.length) {
    built = mutatedBody(rng, INGEST_ROUTES[slot] as IngestRoute, cycle, now);
  } else {
    const special = cycle * SPECIAL_SLOTS + (slot - INGEST_ROUTES.length);
    const kind = SPECIAL_KINDS[special % SPECIAL_KINDS.length] as Exclude<BodyKind, 'mutated'>;
    const route = INGEST_ROUTES[Math.floor(special / SPECIAL_KINDS.length) % INGEST_ROUTES.length] as IngestRoute;
    built = specialBody(rng, kind, route, now, options);
  }
  const contentType = built.contentType ?? pick(rng, built.format === 'json' ? JSON_TYPES : NDJSON_TYPES);
  const query = built.query ?? pick(rng, QUERIES);
  return {
    seed,
    index,
    kind: built.kind,
    route: built.route,
    path: `${built.route}${query}`,
    contentType,
    body: built.body,
    expect: built.expect,
    items: built.expect === 'refused' ? [] : built.items,
    validItems: built.expect === 'refused' ? 0 : built.items.filter((i) => i.expect === 'stored').length,
  };
}

/** The first `count` bodies of the corpus of `seed`. */
export function hostileBodies(seed: number, count: number, options: CorpusOptions = {}): HostileBody[] {
  const now = options.now ?? Date.now();
  return Array.from({ length: count }, (_, index) => hostileBody(seed, index, { ...options, now }));
}
