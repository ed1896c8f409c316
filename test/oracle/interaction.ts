import { z } from 'zod';

/**
 * The zod schema src/report/interaction.ts replaced (issue #9: no zod on the hot path), kept as the oracle that
 * test/property/interaction.test.ts holds interactionProblems to.
 */
export const rawInteractionSchema = z.strictObject({
  role: z.string(),
  method: z.string(),
  url: z.string().min(1),
  status: z.number().int().optional(),
  timedOut: z.boolean().optional(),
  startTime: z.union([z.string(), z.number()]),
  durationMs: z.number().optional(),
  durationSeconds: z.union([z.number(), z.string().regex(/^\d+(\.\d+)?$/, 'a number of seconds such as 0.250')]).optional(),
  fapiInteractionId: z.string(),
  counterpartyOrgId: z.string(),
  orgId: z.string().optional(),
  clientSSId: z.string().optional(),
  correlationId: z.string().optional(),
  additionalInfo: z.record(z.string(), z.unknown()).optional(),
  accessToken: z.string().optional(),
  date: z.unknown().optional(),
});
