import { BEARER_IN_TEXT, isSecretKey, looksLikeToken, REDACTED } from '../../src/report/secrets.js';
import type { EndpointTemplates } from '../../src/report/template.js';

/*
 * The oracle's copy of src/report/normalise.ts as it was before issue #9 (for the differential test).
 */

/**
 * Repairs that cannot change what a report means, applied before validation and counted per kind.
 * Anything else that is wrong is left for validation to refuse: guessing would hide a gateway bug.
 */

export const REPAIR_KINDS = [
  /** A concrete path or URL in `endpoint` replaced by its catalogue template. */
  'endpoint_templated',
  /** A full request URL in `endpointUriPrefix` cut to scheme, host and the path before /open-banking. */
  'uri_prefix_derived',
  /** A timestamp with another offset, precision, or as epoch ms/µs, rewritten as YYYY-MM-DDTHH:mm:ss.sssZ. */
  'timestamp_normalised',
  /** `role` or `httpMethod` in the wrong case. */
  'enum_case',
  /** A key the SERVER role must not send (clientSSId, endpointUriPrefix, correlationId) removed. */
  'server_key_removed',
  /**
   * A secret in additionalInfo replaced by "[redacted]", so it is neither sent nor stored: the value of a key named
   * like one (authorization, accessToken, …, src/report/secrets.ts), a `tokenId` that is a token rather than a hash
   * (a Bearer value, a JWT; it then gets a quality finding for its format), a `Bearer …` inside any other value. The
   * key stays, so the report means what it did: an additionalInfo that was not empty is not made empty.
   */
  'secret_redacted',
] as const;

export type RepairKind = (typeof REPAIR_KINDS)[number];

export interface NormaliseContext {
  privateTemplates: EndpointTemplates;
  opendataTemplates: EndpointTemplates;
}

export interface Normalised {
  item: Record<string, unknown>;
  stream: 'private' | 'opendata';
  repairs: RepairKind[];
}

const CANONICAL_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** ISO-8601 date-time with an explicit offset; a time without one is ambiguous and is not repaired. */
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;
const SERVER_FORBIDDEN_KEYS = ['clientSSId', 'endpointUriPrefix', 'correlationId'];
const ROLES = new Set(['CLIENT', 'SERVER']);
const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH']);
const SECURITY_ENDPOINTS = new Set(['/token', '/register', '/register/{clientId}', '/revocation', '/introspection', '/pushed-authorization-request']);

/** Epoch milliseconds or microseconds (as the two ranges that cover 2001–2286); seconds are ambiguous and refused. */
export function normaliseTimestamp(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value)) {
    const ms = value >= 1e14 ? Math.floor(value / 1000) : value >= 1e12 ? Math.floor(value) : Number.NaN;
    return canonicalAt(ms);
  }
  if (typeof value === 'string' && ISO_WITH_OFFSET.test(value.trim())) {
    // Date.parse keeps milliseconds and drops finer digits; the PCM format has milliseconds only.
    const text = value.trim().replace(/(\.\d{3})\d+/, '$1');
    const ms = Date.parse(text);
    if (Number.isNaN(ms)) return null;
    // Date.parse rolls impossible dates over (02-30 → 03-02): a repair must not change the day.
    const [, y, mo, d] = /^(\d{4})-(\d{2})-(\d{2})/.exec(text) ?? [];
    const local = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
    if (local.getUTCMonth() !== Number(mo) - 1 || local.getUTCDate() !== Number(d)) return null;
    return canonicalAt(ms);
  }
  return null;
}

/**
 * The canonical text of an instant, or null: beyond year 275760 a Date is invalid (toISOString would throw), and
 * outside years 0000–9999 toISOString writes `+275760-…` / `-000001-…`, which is no PCM timestamp either.
 */
function canonicalAt(ms: number): string | null {
  const date = new Date(ms);
  if (!Number.isFinite(date.getTime())) return null;
  const text = date.toISOString();
  return CANONICAL_TIMESTAMP.test(text) ? text : null;
}

/** `https://host/prefix/open-banking/...` → `https://host/prefix`; for security endpoints the whole URL without query. */
export function uriPrefixOf(url: string, endpoint: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return null;
  const origin = `${parsed.protocol}//${parsed.host}`;
  const path = parsed.pathname.replace(/\/{2,}/g, '/').replace(/\/$/, '');
  if (SECURITY_ENDPOINTS.has(endpoint)) return `${origin}${path}`;
  const at = path.indexOf('/open-banking/');
  if (at < 0) return null;
  return `${origin}${path.slice(0, at)}`;
}

export function normaliseReport(input: Record<string, unknown>, context: NormaliseContext): Normalised {
  const item: Record<string, unknown> = { ...input };
  const repairs: RepairKind[] = [];
  const repaired = (kind: RepairKind): void => {
    if (!repairs.includes(kind)) repairs.push(kind);
  };

  for (const key of ['role', 'httpMethod'] as const) {
    const value = item[key];
    if (typeof value === 'string' && value !== value.toUpperCase()) {
      const upper = value.toUpperCase();
      if ((key === 'role' ? ROLES : METHODS).has(upper)) {
        item[key] = upper;
        repaired('enum_case');
      }
    }
  }

  // A report without a role is an opendata report (only the server reports, with its own schema and list).
  const stream = item.role === undefined ? 'opendata' : 'private';
  const templates = stream === 'private' ? context.privateTemplates : context.opendataTemplates;

  if (typeof item.endpoint === 'string' && !templates.has(item.endpoint)) {
    const template = templates.match(item.endpoint);
    if (template !== null) {
      // A full URL in `endpoint` also tells the prefix, when the prefix was not given.
      if (stream === 'private' && item.role === 'CLIENT' && item.endpointUriPrefix === undefined && /^https?:\/\//i.test(item.endpoint)) {
        const prefix = uriPrefixOf(item.endpoint, template);
        if (prefix !== null) {
          item.endpointUriPrefix = prefix;
          repaired('uri_prefix_derived');
        }
      }
      item.endpoint = template;
      repaired('endpoint_templated');
    }
  }

  if (item.timestamp !== undefined && !(typeof item.timestamp === 'string' && CANONICAL_TIMESTAMP.test(item.timestamp))) {
    const timestamp = normaliseTimestamp(item.timestamp);
    if (timestamp !== null) {
      item.timestamp = timestamp;
      repaired('timestamp_normalised');
    }
  }

  if (item.role === 'CLIENT' && typeof item.endpointUriPrefix === 'string' && typeof item.endpoint === 'string') {
    const value = item.endpointUriPrefix;
    if (value.includes('/open-banking/') || value.includes('?') || value.includes('#')) {
      const prefix = uriPrefixOf(value, item.endpoint);
      if (prefix !== null && prefix !== value) {
        item.endpointUriPrefix = prefix;
        repaired('uri_prefix_derived');
      }
    }
  }

  const info = item.additionalInfo;
  if (info !== null && typeof info === 'object' && !Array.isArray(info)) {
    // Nearly every report has no secret: look first, copy only when one is there.
    const safeOf = (key: string, value: unknown): unknown => {
      if (isSecretKey(key) || (key === 'tokenId' && typeof value === 'string' && looksLikeToken(value))) return REDACTED;
      return typeof value === 'string' && /bearer\s/i.test(value) ? value.replace(BEARER_IN_TEXT, `$1${REDACTED}`) : value;
    };
    const entries = Object.entries(info as Record<string, unknown>);
    // Object.is: a NaN value is no change.
    if (entries.some(([key, value]) => !Object.is(safeOf(key, value), value))) {
      const kept: Record<string, unknown> = {};
      // defineProperty: an own "__proto__" key stays an own key, as it came.
      for (const [key, value] of entries) Object.defineProperty(kept, key, { value: safeOf(key, value), enumerable: true, writable: true, configurable: true });
      item.additionalInfo = kept;
      repaired('secret_redacted');
    }
  }

  if (item.role === 'SERVER') {
    for (const key of SERVER_FORBIDDEN_KEYS) {
      if (key in item) {
        delete item[key];
        repaired('server_key_removed');
      }
    }
  }
  return { item, stream, repairs };
}
