/**
 * One reason an item is refused: the field, the rule it broke, and a message in the PCM's wording where
 * pcm-rules.md §8 gives one ("Missing fields: …", "Unlisted endpoint: …"). `value` is what was received, when useful.
 */
export interface ReportProblem {
  field: string;
  rule: string;
  message: string;
  value?: unknown;
  /** The rule's severity (rules.ts), set once the problem has been judged. */
  severity?: 'discard' | 'quality';
}

/** zod's names for JSON types, as the PCM prints them ("received boolean", "received array", "received null"). */
export function jsonType(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

/**
 * The first `chars` characters of `text` as a string of their own. A plain slice of a long string is a view that
 * keeps the whole string alive (V8's sliced strings): a 200-character excerpt of a hostile 9 MB field in an answer
 * or a quarantine row would hold the 9 MB until that row is committed, and promote it to the old generation.
 */
export function excerpt(text: string, chars: number): string {
  return text.length > chars ? (JSON.parse(JSON.stringify(text.slice(0, chars))) as string) : text;
}

/** A received value as it may appear in a message: never `String()` of an untrusted object (its toString may throw). */
export function shown(value: unknown): string {
  if (typeof value === 'string') return value.length > 200 ? `${excerpt(value, 200)}…` : value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return jsonType(value);
}
