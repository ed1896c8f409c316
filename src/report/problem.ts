/**
 * One reason an item is refused: the field, the rule it broke, and a message in the PCM's wording where
 * pcm-rules.md §8 gives one ("Missing fields: …", "Unlisted endpoint: …"). `value` is what was received, when useful.
 */
export interface ReportProblem {
  field: string;
  rule: string;
  message: string;
  value?: unknown;
}
