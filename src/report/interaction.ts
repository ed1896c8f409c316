import { z } from 'zod';

/**
 * What a gateway knows about one interaction, before it is a PCM report: role, method, full URL, status, start
 * time, duration, the x-fapi-interaction-id, the counterparty, and whatever additionalInfo inputs it has.
 * `buildReport` (src/report/build.ts) turns it into a PCM report; gateway mappings (src/ingest/gateways/) produce it.
 */
export const rawInteractionSchema = z.strictObject({
  /** CLIENT: this participant called another; SERVER: another participant called this one. */
  role: z.string(),
  method: z.string(),
  /** Full request URL (scheme, host, path, optional query). For SERVER a path alone is enough. */
  url: z.string().min(1),
  /** HTTP status answered; ignored when `timedOut` (the PCM wants 408). */
  status: z.number().int().optional(),
  /** The call ended in a timeout (client waited ≥15 s, or the server gave up on an incomplete request). */
  timedOut: z.boolean().optional(),
  /** When the call started: ISO-8601 with any offset, or epoch milliseconds / microseconds. */
  startTime: z.union([z.string(), z.number()]),
  /** Milliseconds until the first response byte (CLIENT) / until the response was sent (SERVER). */
  durationMs: z.number().optional(),
  /**
   * The same duration in seconds (nginx's `$request_time`, `0.250`), as a number or a numeric string. Exactly one of
   * durationMs / durationSeconds: a bare number with no unit is never guessed.
   */
  durationSeconds: z.union([z.number(), z.string().regex(/^\d+(\.\d+)?$/, 'a number of seconds such as 0.250')]).optional(),
  fapiInteractionId: z.string(),
  /** The other organisation: serverOrgId for CLIENT, clientOrgId for SERVER. */
  counterpartyOrgId: z.string(),
  /** This participant's organisation; may be omitted when exactly one organisation is configured. */
  orgId: z.string().optional(),
  /** CLIENT only: the software statement the call was made with; defaults to the organisation's configured one. */
  clientSSId: z.string().optional(),
  correlationId: z.string().optional(),
  additionalInfo: z.record(z.string(), z.unknown()).optional(),
  /**
   * CLIENT: the access token the call carried (or the whole `Authorization: Bearer …` value). Only its tokenId
   * (pcm-rules.md §4.5) is kept; the token itself is never stored, logged or counted.
   */
  accessToken: z.string().optional(),
  /** Log shippers' own metadata, tolerated and ignored (Fluent Bit's http output adds `date` to every record). */
  date: z.unknown().optional(),
});

export type RawInteraction = z.infer<typeof rawInteractionSchema>;
