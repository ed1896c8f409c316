import { interactionProblems, type RawInteraction } from './interaction.js';
import { normaliseTimestamp, uriPrefixOf } from './normalise.js';
import { looksLikeToken } from './secrets.js';
import { shown, type ReportProblem } from './problem.js';
import type { EndpointTemplates } from './template.js';
import { bearerToken, tokenIdOf } from './token-id.js';

/**
 * A gateway's view of one call (RawInteraction) → a PCM private report, by the same rules the PCM documents:
 * endpoint from the URL via the catalogue, prefix from the URL, 408 for timeouts, org ids by role.
 * The result still goes through `prepareReport`, so it is validated exactly like a report posted directly.
 */

export interface BuildContext {
  /** Configured organisations, by lower-case orgId, with the software statement CLIENT reports carry. */
  organisations: ReadonlyMap<string, { clientSSId?: string | undefined }>;
  privateTemplates: EndpointTemplates;
  /** The tokenId pepper (PCM_TOKEN_ID_PEPPER_FILE); null: an access token that comes in is dropped unused. */
  tokenIdPepper: Uint8Array | null;
}

export type BuildResult = { ok: true; item: Record<string, unknown> } | { ok: false; problems: ReportProblem[] };

const TIMEOUT_STATUS = 408;

function fail(field: string, rule: string, message: string, value?: unknown): BuildResult {
  return { ok: false, problems: [{ field, rule, message, ...(value === undefined ? {} : { value }) }] };
}

export function buildReport(raw: unknown, context: BuildContext): BuildResult {
  const problems = interactionProblems(raw);
  if (problems !== null) return { ok: false, problems };
  const interaction = raw as RawInteraction;
  const role = interaction.role.toUpperCase();
  if (role !== 'CLIENT' && role !== 'SERVER') return fail('role', 'enum', `Invalid enum value. Expected 'SERVER' | 'CLIENT', received '${interaction.role}'`, interaction.role);

  let orgId = interaction.orgId?.toLowerCase();
  if (orgId === undefined) {
    if (context.organisations.size !== 1) {
      return fail('orgId', 'required', 'Missing fields: orgId (several organisations are configured; say which one this call belongs to)');
    }
    orgId = [...context.organisations.keys()][0] as string;
  }
  const organisation = context.organisations.get(orgId);
  if (!organisation) return fail('orgId', 'reporter_org', `orgId '${interaction.orgId}' is not an organisation this sidecar reports for`, interaction.orgId);

  const endpoint = context.privateTemplates.match(interaction.url);
  if (endpoint === null) return fail('url', 'listed_endpoint', `Unlisted endpoint: ${shown(interaction.url)}`, interaction.url);

  if (!interaction.timedOut && interaction.status === undefined) return fail('status', 'required', 'Missing fields: status');
  const statusCode = interaction.timedOut ? TIMEOUT_STATUS : (interaction.status as number);

  const timestamp = normaliseTimestamp(interaction.startTime);
  if (timestamp === null) {
    return fail('startTime', 'format', 'Invalid field value: startTime must be ISO-8601 with an offset, or epoch milliseconds or microseconds', interaction.startTime);
  }
  const durationMs = durationOf(interaction);
  if (typeof durationMs === 'string') return fail('durationMs', 'interaction', durationMs);
  // Sub-millisecond calls still took time; the PCM wants at least 1.
  const processTimespan = Math.max(1, Math.round(durationMs));
  const common = {
    fapiInteractionId: interaction.fapiInteractionId,
    endpoint,
    statusCode,
    httpMethod: interaction.method.toUpperCase(),
    timestamp,
    processTimespan,
  };

  if (role === 'SERVER') {
    return {
      ok: true,
      item: {
        role,
        ...common,
        clientOrgId: interaction.counterpartyOrgId,
        serverOrgId: orgId,
        ...(interaction.additionalInfo ? { additionalInfo: interaction.additionalInfo } : {}),
      },
    };
  }
  const clientSSId = interaction.clientSSId ?? organisation.clientSSId;
  if (clientSSId === undefined) {
    return fail('clientSSId', 'required', `Missing fields: clientSSId (send it, or configure organisations[].clientSSId for ${orgId})`);
  }
  const endpointUriPrefix = uriPrefixOf(interaction.url, endpoint);
  if (endpointUriPrefix === null) {
    return fail('url', 'format', 'Invalid field value: url must be the full https URL the call went to, for endpointUriPrefix', interaction.url);
  }
  return {
    ok: true,
    item: {
      role,
      ...common,
      clientOrgId: orgId,
      serverOrgId: interaction.counterpartyOrgId,
      clientSSId,
      endpointUriPrefix,
      ...(interaction.correlationId !== undefined ? { correlationId: interaction.correlationId } : {}),
      additionalInfo: withTokenId(interaction, statusCode, context.tokenIdPepper),
    },
  };
}

/** Milliseconds from durationMs or durationSeconds, or why neither can be used. */
function durationOf(interaction: RawInteraction): number | string {
  const { durationMs, durationSeconds } = interaction;
  if (durationMs !== undefined && durationSeconds !== undefined) return 'Invalid interaction: send durationMs or durationSeconds, not both';
  if (durationMs !== undefined) return Number.isFinite(durationMs) && durationMs >= 0 ? durationMs : 'Invalid interaction: durationMs must be a number ≥ 0';
  if (durationSeconds !== undefined) {
    const seconds = Number(durationSeconds);
    return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : 'Invalid interaction: durationSeconds must be a number ≥ 0';
  }
  return 'Missing fields: durationMs (milliseconds) or durationSeconds (seconds)';
}

/**
 * §4.5: tokenId from the call's access token, on answers below 400 (a failed call has no usable token to name).
 * A tokenId the gateway computed itself wins. The token goes no further than this function.
 */
function withTokenId(interaction: RawInteraction, statusCode: number, pepper: Uint8Array | null): Record<string, unknown> {
  const info = interaction.additionalInfo ?? {};
  const given = Object.hasOwn(info, 'tokenId') ? info.tokenId : undefined;
  // A tokenId the gateway computed (a short string) wins; null, '' or a raw token in its place does not.
  const computedByGateway = typeof given === 'string' && given !== '' && !looksLikeToken(given);
  if (pepper === null || statusCode >= 400 || computedByGateway) return info;
  // A raw token put in tokenId is hashed like one posted as accessToken.
  const raw = interaction.accessToken ?? (typeof given === 'string' && given !== '' ? given : undefined);
  if (raw === undefined) return info;
  const token = bearerToken(raw);
  return token === null ? info : { ...info, tokenId: tokenIdOf(token, pepper) };
}
