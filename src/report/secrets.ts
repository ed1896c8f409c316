/**
 * Names under which gateways log secrets beside a call: the bearer token above all (tokenId is computed from it),
 * cookies, API keys. Such a value is never stored, sent or echoed: the quarantine keeps REDACTED in its place, and a
 * report drops the key (src/report/normalise.ts, repair `secret_removed`).
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
  'api_key',
  'token',
  'refresh_token',
  'id_token',
  'client_secret',
  'password',
  'secret',
]);

/** What stands in for a secret wherever one was; never a token to hash. */
export const REDACTED = '[redacted]';

export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key.toLowerCase());
}

export const SECRET_KEY_NAMES: readonly string[] = [...SECRET_KEYS];

/** `Bearer <token>` anywhere in a text. */
export const BEARER_IN_TEXT = /\b(Bearer\s+)[A-Za-z0-9\-._~+/]+=*/gi;

/**
 * A value that is a bearer token rather than a hash of one: a `Bearer …` value, anything with whitespace, or the
 * three dot-separated segments of a JWT. A hash sent as tokenId (hex, base64url, whatever its length) is none of these.
 */
export function looksLikeToken(value: string): boolean {
  return /\s/.test(value.trim()) || /^bearer\b/i.test(value) || /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(value);
}
