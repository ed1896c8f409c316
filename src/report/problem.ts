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

/** A received value as it may appear in a message: never `String()` of an untrusted object (its toString may throw). */
export function shown(value: unknown): string {
  if (typeof value === 'string') return value.length > 200 ? `${value.slice(0, 200)}…` : value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return jsonType(value);
}
