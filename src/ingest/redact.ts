/**
 * Secrets that gateways log beside a call (the bearer token above all, which tokenId is computed from) must never
 * reach the quarantine, where refused items are kept as received. Keys are matched case-insensitively wherever they
 * are nested; whole bodies that are not JSON get the same treatment by pattern.
 */

const SECRET_KEYS = new Set([
  'authorization',
  'proxy-authorization',
  'http_authorization',
  'http_proxy_authorization',
  'accesstoken',
  'access_token',
  'pcm_access_token',
  'cookie',
  'set-cookie',
  'http_cookie',
  'x-api-key',
  'apikey',
]);

export const REDACTED = '[redacted]';

export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key.toLowerCase());
}

/** A copy of a parsed JSON value with every secret-named key's value replaced. Depth is bounded by the body parser. */
export function redactValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactValue);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    // defineProperty: a "__proto__" key from JSON.parse stays an own key, as it came.
    Object.defineProperty(out, key, { value: isSecretKey(key) ? REDACTED : redactValue(child), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const SECRET_IN_TEXT = new RegExp(`("(?:${[...SECRET_KEYS].map((k) => k.replace(/[-]/g, '\\-')).join('|')})"\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`, 'gi');
const BEARER_IN_TEXT = /\b(Bearer\s+)[A-Za-z0-9\-._~+/]+=*/gi;

/** The same for text that may not parse: `"authorization": "…"` pairs and `Bearer …` values. */
export function redactText(text: string): string {
  return text.replace(SECRET_IN_TEXT, `$1"${REDACTED}"`).replace(BEARER_IN_TEXT, `$1${REDACTED}`);
}
