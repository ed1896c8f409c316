import { z } from 'zod';
import {
  CORRELATION_ID_PATTERN,
  HTTP_METHODS,
  TIMESTAMP_PATTERN,
  URI_PREFIX_PATTERN,
  UUID_PATTERN,
  type ClientReport as CompiledClientReport,
  type OpendataReport as CompiledOpendataReport,
  type ServerReport as CompiledServerReport,
} from '../../src/report/schema.js';

export { ROLES } from '../../src/report/schema.js';

/**
 * The zod schemas src/report/schema.ts had before issue #9, kept as the oracle of the differential test: the compiled
 * shapes there must give exactly the problems these give. The patterns and lists are src's own (one copy).
 *
 * PCM private report models (`ClientReportRequest`, `ServerReportRequest` in pcm-openapi-current.yaml), strict:
 * the PCM refuses unknown keys ("Unrecognized key(s) in object"), so we do too.
 * `fapiInteractionId` is required for both roles: the current rule (pcm-rules.md §3.4) discards reports without it,
 * and it is the key the PCM pairs on.
 */

const uuid = z.string().max(36).regex(UUID_PATTERN, 'must be a UUID');

/**
 * A JSON object, kept as it came: z.record would rebuild it and silently drop an own `__proto__` key (the PCM's
 * validator sees that key; so must ours). Its keys and values are checked by additional-info.ts.
 */
export const ADDITIONAL_INFO_TYPE = 'expected object';
const jsonObject = z.custom<Record<string, unknown>>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), { message: ADDITIONAL_INFO_TYPE });

const common = {
  fapiInteractionId: uuid,
  endpoint: z.string().min(1),
  statusCode: z.number().int().min(200).max(599),
  httpMethod: z.enum(HTTP_METHODS),
  timestamp: z.string().max(28).regex(TIMESTAMP_PATTERN, 'must be YYYY-MM-DDTHH:mm:ss.sssZ'),
  processTimespan: z.number(),
  clientOrgId: uuid,
  serverOrgId: uuid,
};

export const clientReportSchema = z.strictObject({
  role: z.literal('CLIENT'),
  ...common,
  correlationId: z.string().max(100).regex(CORRELATION_ID_PATTERN).optional(),
  clientSSId: uuid,
  // §3.2: the PCM discards an empty one ("should not be empty"); the https://host shape is checked as a remark.
  endpointUriPrefix: z.string().min(1).max(200).regex(URI_PREFIX_PATTERN),
  additionalInfo: jsonObject,
});

export const serverReportSchema = z.strictObject({
  role: z.literal('SERVER'),
  ...common,
  additionalInfo: jsonObject.optional(),
});

export type ClientReport = z.infer<typeof clientReportSchema>;
export type ServerReport = z.infer<typeof serverReportSchema>;
export type PrivateReport = ClientReport | ServerReport;

/** Opendata (`OpendataReportRequest`): only the server reports; no role, org ids or fapiInteractionId. */
export const opendataReportSchema = z.strictObject({
  endpoint: z.string().min(1),
  statusCode: common.statusCode,
  httpMethod: common.httpMethod,
  timestamp: common.timestamp,
  processTimespan: z.number(),
  additionalInfo: jsonObject,
});

export type OpendataReport = z.infer<typeof opendataReportSchema>;
export type AnyReport = PrivateReport | OpendataReport;

// The interfaces src/ declares are the types these schemas infer (checked by tsc over src and test, not by vitest).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const TYPES_MATCH: [Same<ClientReport, CompiledClientReport>, Same<ServerReport, CompiledServerReport>, Same<OpendataReport, CompiledOpendataReport>] = [
  true,
  true,
  true,
];
