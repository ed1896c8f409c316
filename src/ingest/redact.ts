/**
 * Secrets that gateways log beside a call (the bearer token above all, which tokenId is computed from) must never
 * reach the quarantine, where refused items are kept as received. Keys are matched case-insensitively wherever they
 * are nested; whole bodies that are not JSON get the same treatment by pattern.
 */

import { isSecretKey, REDACTED, SECRET_KEY_NAMES } from '../report/secrets.js';

export { REDACTED };

/**
 * A copy of a parsed JSON value with every secret-named key's value replaced, and secrets inside strings too (a
 * shipper's raw `log` line holding JSON, a `Bearer …` anywhere). Depth is bounded by the body parser.
 */
export function redactValue(value: unknown): unknown {
  if (typeof value === 'string') return redactText(value);
  if (Array.isArray(value)) return value.map(redactValue);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    // defineProperty: a "__proto__" key from JSON.parse stays an own key, as it came.
    Object.defineProperty(out, key, { value: isSecretKey(key) ? REDACTED : redactValue(child), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const KEYS = SECRET_KEY_NAMES.map((k) => k.replace(/[-]/g, '\\-')).join('|');
/**
 * `"key": "value` in JSON text, also escaped inside another string (`\"key\":\"value`) and also when the text stops
 * before the closing quote (a truncated line): the value is cut at the next quote, escaped or not.
 */
const SECRET_IN_TEXT = new RegExp(`(\\\\?"(?:${KEYS})\\\\?"\\s*:\\s*\\\\?")((?:[^"\\\\]|\\\\[^"])*)`, 'gi');
const BEARER_IN_TEXT = /\b(Bearer\s+)[A-Za-z0-9\-._~+/]+=*/gi;
/** Query parameters that carry credentials. */
const SECRET_IN_QUERY = new RegExp(`([?&](?:${KEYS}|token|key|api_key|secret|password)=)[^&#]*`, 'gi');

/** The same for text that may not parse: `"authorization": "…"` pairs and `Bearer …` values. */
export function redactText(text: string): string {
  return text.replace(SECRET_IN_TEXT, `$1${REDACTED}`).replace(BEARER_IN_TEXT, `$1${REDACTED}`);
}

/** A request URL as logs and the quarantine keep it: credentials in its query replaced, the rest (?orgId, ?role) kept. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_IN_QUERY, `$1${REDACTED}`);
}

/**
 * JSON text of a parsed value, redacted like redactValue, that stops once `maxChars` are written: the quarantine and
 * the answers keep a bounded view of an item, so a 900 KB string is never copied whole to be cut afterwards.
 * Iterative (a depth-limited value could still be wide). `cut` says whether anything was left out.
 */
export function boundedJson(value: unknown, maxChars: number): { text: string; cut: boolean } {
  const parts: string[] = [];
  let length = 0;
  const emit = (text: string): boolean => {
    if (length + text.length > maxChars) {
      parts.push(text.slice(0, Math.max(0, maxChars - length)));
      length = maxChars;
      return false;
    }
    parts.push(text);
    length += text.length;
    return true;
  };
  /** A string as JSON, redacted, without serialising more of it than could still fit. */
  const string = (text: string): string => JSON.stringify(redactText(text.length > maxChars - length ? text.slice(0, maxChars - length + 1) : text));
  type Frame = { kind: 'value'; value: unknown } | { kind: 'raw'; text: string };
  const stack: Frame[] = [{ kind: 'value', value }];
  while (stack.length > 0) {
    const frame = stack.pop() as Frame;
    if (frame.kind === 'raw') {
      if (!emit(frame.text)) return { text: parts.join(''), cut: true };
      continue;
    }
    const v = frame.value;
    let text: string | null = null;
    if (v === null || typeof v === 'number' || typeof v === 'boolean') text = JSON.stringify(v) ?? 'null';
    else if (typeof v === 'string') text = string(v);
    else if (Array.isArray(v)) {
      const frames: Frame[] = [{ kind: 'raw', text: '[' }];
      v.forEach((child, i) => frames.push(...(i > 0 ? [{ kind: 'raw', text: ',' } as Frame] : []), { kind: 'value', value: child }));
      frames.push({ kind: 'raw', text: ']' });
      for (let i = frames.length - 1; i >= 0; i--) stack.push(frames[i] as Frame);
      continue;
    } else if (typeof v === 'object') {
      const frames: Frame[] = [{ kind: 'raw', text: '{' }];
      let written = 0;
      Object.keys(v as Record<string, unknown>).forEach((key) => {
        const child = (v as Record<string, unknown>)[key];
        if (child === undefined) return;
        frames.push({ kind: 'raw', text: `${written++ > 0 ? ',' : ''}${string(key)}:` });
        frames.push(isSecretKey(key) ? { kind: 'raw', text: JSON.stringify(REDACTED) } : { kind: 'value', value: child });
      });
      frames.push({ kind: 'raw', text: '}' });
      for (let i = frames.length - 1; i >= 0; i--) stack.push(frames[i] as Frame);
      continue;
    } else text = 'null';
    if (!emit(text)) return { text: parts.join(''), cut: true };
  }
  return { text: parts.join(''), cut: false };
}
