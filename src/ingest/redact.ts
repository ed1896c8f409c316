/**
 * Secrets that gateways log beside a call (the bearer token above all, which tokenId is computed from) must never
 * reach the quarantine, where refused items are kept as received. Keys are matched case-insensitively wherever they
 * are nested; whole bodies that are not JSON get the same treatment by pattern.
 */

import { BEARER_IN_TEXT, isSecretKey, REDACTED, SECRET_KEY_NAMES } from '../report/secrets.js';

export { REDACTED };

const KEYS = SECRET_KEY_NAMES.map((k) => k.replace(/[-]/g, '\\-')).join('|');
/** `"key": "value"` in JSON text, the value with JSON's own escapes; also when the text stops before its end. */
const SECRET_STRING = new RegExp(`("(?:${KEYS})"\\s*:\\s*")((?:[^"\\\\]|\\\\.)*)`, 'gi');
/** The same inside another JSON string (`\"key\":\"value`), where `\"` ends the value. */
const SECRET_ESCAPED = new RegExp(`(\\\\"(?:${KEYS})\\\\"\\s*:\\s*\\\\")((?:[^"\\\\]|\\\\[^"])*)`, 'gi');
/** `"key": [ … ]` (Kong logs a repeated header as an array). */
const SECRET_ARRAY = new RegExp(`("(?:${KEYS})"\\s*:\\s*)\\[[^\\]]*\\]?`, 'gi');
/** Header lines (`Authorization: Basic …`, `Cookie: …`) in text that is no JSON at all. */
const SECRET_HEADER_LINE = /^(\s*(?:authorization|proxy-authorization|cookie|set-cookie|x-api-key)\s*:\s*).*$/gim;

/** The same for text that may not parse: secret-named pairs (string or array values), header lines, `Bearer …`. */
export function redactText(text: string): string {
  return text
    .replace(SECRET_STRING, `$1${REDACTED}`)
    .replace(SECRET_ESCAPED, `$1${REDACTED}`)
    .replace(SECRET_ARRAY, `$1"${REDACTED}"`)
    .replace(SECRET_HEADER_LINE, `$1${REDACTED}`)
    .replace(BEARER_IN_TEXT, `$1${REDACTED}`);
}

/**
 * A request URL as logs and the quarantine keep it: the value of every query parameter whose name (percent-decoded)
 * is a secret's is replaced; the rest (?orgId, ?role, ?partialStatus) is kept for replay.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const query = url.slice(q + 1).replace(/[^&;=]+=[^&;]*/g, (pair) => {
    const at = pair.indexOf('=');
    let name = pair.slice(0, at);
    try {
      name = decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      // not decodable: judged as written
    }
    return isSecretKey(name) || /^(key|api-?key)$/i.test(name) ? `${pair.slice(0, at)}=${REDACTED}` : pair;
  });
  return `${url.slice(0, q + 1)}${query}`;
}

/**
 * JSON text of a parsed value with secrets redacted (secret-named keys' values, and redactText over every string),
 * that stops once `maxChars` are written: the quarantine and
 * the answers keep a bounded view of an item, so a 900 KB string or a million-element array is never walked or
 * copied whole to be cut afterwards. Iterative, containers expanded lazily (one cursor per open container), so the
 * work is bounded by `maxChars` plus the depth. `cut` says whether anything was left out.
 */
export function boundedJson(value: unknown, maxChars: number): { text: string; cut: boolean } {
  const parts: string[] = [];
  let length = 0;
  let cut = false;
  /** Appends, or appends what fits and reports false. */
  const emit = (text: string): boolean => {
    if (length + text.length > maxChars) {
      parts.push(text.slice(0, Math.max(0, maxChars - length)));
      length = maxChars;
      cut = true;
      return false;
    }
    parts.push(text);
    length += text.length;
    return true;
  };
  /** A string as JSON, redacted; a string longer than the room left is sliced first, which is a cut. */
  const string = (text: string): string => {
    const room = maxChars - length + 1;
    if (text.length > room) {
      cut = true;
      return JSON.stringify(redactText(text.slice(0, room)));
    }
    return JSON.stringify(redactText(text));
  };
  type Open = { array: unknown[]; next: number } | { object: Record<string, unknown>; keys: string[]; next: number; written: number };
  const open: Open[] = [];
  /** Writes a scalar, or opens a container; false once the bound is reached. */
  const start = (v: unknown): boolean => {
    if (Array.isArray(v)) {
      open.push({ array: v, next: 0 });
      return emit('[');
    }
    if (v !== null && typeof v === 'object') {
      open.push({ object: v as Record<string, unknown>, keys: Object.keys(v), next: 0, written: 0 });
      return emit('{');
    }
    const text = typeof v === 'string' ? string(v) : typeof v === 'number' || typeof v === 'boolean' ? JSON.stringify(v) : 'null';
    return emit(text) && !cut;
  };
  if (!start(value)) return { text: parts.join(''), cut: true };
  while (open.length > 0) {
    const top = open[open.length - 1] as Open;
    if ('array' in top) {
      if (top.next >= top.array.length) {
        open.pop();
        if (!emit(']')) break;
        continue;
      }
      const i = top.next++;
      if ((i > 0 && !emit(',')) || !start(top.array[i] === undefined ? null : top.array[i])) break;
      continue;
    }
    if (top.next >= top.keys.length) {
      open.pop();
      if (!emit('}')) break;
      continue;
    }
    const key = top.keys[top.next++] as string;
    const child = top.object[key];
    if (child === undefined) continue;
    if (!emit(`${top.written++ > 0 ? ',' : ''}${string(key)}:`) || cut) break;
    if (isSecretKey(key) ? !emit(JSON.stringify(REDACTED)) : !start(child)) break;
  }
  return { text: parts.join(''), cut };
}
