import {
  CLIENT_TIMEOUT_MS,
  describe,
  isRecord,
  assemble,
  orgIdFromSubject,
  problem,
  Problems,
  readNumber,
  readObject,
  readRole,
  readText,
  resolveRole,
  type GatewayOptions,
  type MappingResult,
  type Role,
} from './common.js';

export type { GatewayOptions, MappingResult } from './common.js';

/**
 * One Envoy/Istio JSON access log line, in the format shipped in deploy/gateways/envoy (keys below), → RawInteraction.
 * Both renderings are read: `json_format` of older Envoy (every value a string, `"-"` for an operator without a
 * value) and the typed one of current Envoy/Istio (numbers as numbers, `null` when unset). Decisions and sources are
 * in deploy/gateways/envoy/README.md.
 */

/** The keys this mapping reads, and the command operator each one is meant to hold. */
export const ENVOY_LOG_KEYS = {
  start_time: '%START_TIME%',
  method: '%REQ(:METHOD)%',
  scheme: '%REQ(X-FORWARDED-PROTO)%',
  authority: '%REQ(:AUTHORITY)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  upstream_path: '%REQ(:PATH)%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  duration: '%DURATION%',
  response_duration: '%RESPONSE_DURATION%',
  upstream_tls_version: '%UPSTREAM_TLS_VERSION%',
  downstream_peer_subject: '%DOWNSTREAM_PEER_SUBJECT%',
  upstream_peer_subject: '%UPSTREAM_PEER_SUBJECT%',
  fapi_interaction_id: '%REQ(X-FAPI-INTERACTION-ID)%',
  fapi_interaction_id_response: '%RESP(X-FAPI-INTERACTION-ID)%',
  pcm_role: 'SERVER or CLIENT (a literal per gateway)',
  pcm_counterparty_org_id: '%REQ(X-PCM-COUNTERPARTY-ORG-ID)% (CLIENT only)',
  pcm_org_id: '%REQ(X-PCM-ORG-ID)%',
  pcm_client_ssid: '%REQ(X-PCM-CLIENT-SSID)%',
  pcm_correlation_id: '%REQ(X-PCM-CORRELATION-ID)%',
  pcm_access_token: '%REQ(AUTHORIZATION)% (CLIENT only): becomes additionalInfo.tokenId, then dropped',
  pcm_additional_info: '%RESP(X-PCM-ADDITIONAL-INFO)% (SERVER) or %REQ(X-PCM-ADDITIONAL-INFO)% (CLIENT): a JSON object',
  upstream_service_time: "Istio's stock JSON format: %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%, CLIENT duration when response_duration is absent",
} as const;

const DASH = { dashIsAbsent: true } as const;

/**
 * Response flags that mean Envoy answered locally without the request ever leaving for the other participant:
 * no route/cluster/healthy host, circuit breaking, DNS failure, local rate limit, ext_authz denial, fault abort,
 * bad request headers, overload. (Envoy docs, %RESPONSE_FLAGS%.)
 */
const NOT_SENT_FLAGS = new Set(['NR', 'NC', 'UH', 'UO', 'LH', 'DF', 'RL', 'RLSE', 'UAEX', 'FI', 'IH', 'DPE', 'OM']);

function flagsOf(value: unknown): Set<string> {
  const text = readText(value, DASH);
  if (text.state !== 'ok') return new Set();
  return new Set(text.value.split(',').map((flag) => flag.trim()).filter((flag) => flag !== '' && flag !== '-'));
}

export function fromEnvoy(line: unknown, options: GatewayOptions): MappingResult {
  if (!isRecord(line)) {
    return {
      ok: false,
      problems: [problem('(line)', 'type', `Field type mismatch: expected one Envoy JSON access log object, received ${describe(line)}`)],
    };
  }
  const problems = new Problems();
  const role: Role | undefined = resolveRole(
    readRole(line.pcm_role, DASH),
    options.role,
    'pcm_role',
    'put a literal "SERVER" or "CLIENT" in the access log format, or post to /v1/gateways/envoy?role=CLIENT|SERVER',
    problems,
  );
  const method = problems.need(readText(line.method, DASH), 'method', '%REQ(:METHOD)%', 'string');
  const startTime = problems.need(readText(line.start_time, DASH), 'start_time', '%START_TIME%', 'string');
  const flags = flagsOf(line.response_flags);
  const code = problems.optional(readNumber(line.response_code, DASH), 'response_code', 'number');
  const duration = problems.optional(readNumber(line.duration, DASH), 'duration', 'number');
  const responseDuration = problems.optional(readNumber(line.response_duration, DASH), 'response_duration', 'number');

  const fapiRequest = readText(line.fapi_interaction_id, DASH);
  const fapiResponse = readText(line.fapi_interaction_id_response, DASH);
  const fapiInteractionId = fapiRequest.state === 'ok' ? fapiRequest.value : fapiResponse.state === 'ok' ? fapiResponse.value : undefined;
  if (fapiInteractionId === undefined) {
    problems.add(
      problem(
        'fapi_interaction_id',
        'required',
        'Missing fields: fapiInteractionId (no x-fapi-interaction-id in fapi_interaction_id, nor in fapi_interaction_id_response)',
      ),
    );
  }

  // The other participant: said explicitly, else the OU of its certificate on this connection — the caller's client
  // certificate for SERVER, the answering server's certificate for CLIENT.
  let counterpartyOrgId = problems.optional(readText(line.pcm_counterparty_org_id, DASH), 'pcm_counterparty_org_id', 'string');
  if (counterpartyOrgId === undefined && role !== undefined) {
    const subjectKey = role === 'SERVER' ? 'downstream_peer_subject' : 'upstream_peer_subject';
    const subject = readText(line[subjectKey], DASH);
    counterpartyOrgId = subject.state === 'ok' ? orgIdFromSubject(subject.value) : undefined;
    if (counterpartyOrgId === undefined) {
      problems.add(
        problem(
          'pcm_counterparty_org_id',
          'required',
          `Missing fields: pcm_counterparty_org_id (the other participant's organisationId; nor is there an organisationId (OU) in ${subjectKey})`,
        ),
      );
    }
  }

  const additionalInfo = problems.optional(readObject(line.pcm_additional_info, DASH), 'pcm_additional_info', 'object');
  const orgId = problems.optional(readText(line.pcm_org_id, DASH), 'pcm_org_id', 'string');
  const clientSSId = problems.optional(readText(line.pcm_client_ssid, DASH), 'pcm_client_ssid', 'string');
  const correlationId = problems.optional(readText(line.pcm_correlation_id, DASH), 'pcm_correlation_id', 'string');
  const accessToken = role === 'CLIENT' ? problems.optional(readText(line.pcm_access_token, DASH), 'pcm_access_token', 'string') : undefined;
  const authority = readText(line.authority, DASH);

  // RESPONSE_CODE 0: no response was ever started — the caller disconnected first (Envoy docs).
  const noResponse = code === 0;
  let url: string | undefined;
  let timedOut = false;
  let durationMs: number | undefined;
  if (role === 'SERVER') {
    // The path the caller sent (before any rewrite), on the authority it called; a path alone would do.
    const path = problems.need(readText(line.path, DASH), 'path', '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%', 'string');
    const scheme = readText(line.scheme, DASH);
    if (path !== undefined) {
      url = authority.state === 'ok' ? `${scheme.state === 'ok' ? scheme.value : 'https'}://${authority.value}${path}` : path;
    }
    // The caller stopped waiting before any answer (code 0), or the stream idled out (SI, 408).
    timedOut = noResponse || flags.has('SI');
    durationMs = duration;
    if (durationMs === undefined && readNumber(line.duration, DASH).state === 'absent') {
      problems.add(problem('duration', 'required', 'Missing fields: duration (%DURATION%)'));
    }
  } else if (role === 'CLIENT') {
    // Where the call went: the path and authority after the gateway's rewrites, https when the upstream used TLS.
    const upstreamPath = readText(line.upstream_path, DASH);
    const path =
      upstreamPath.state === 'ok'
        ? upstreamPath.value
        : problems.need(readText(line.path, DASH), 'upstream_path', '%REQ(:PATH)%', 'string');
    const host = problems.need(authority, 'authority', '%REQ(:AUTHORITY)%, the host the call went to', 'string');
    const tls = readText(line.upstream_tls_version, DASH);
    const declared = readText(line.scheme, DASH);
    const scheme = tls.state === 'ok' ? 'https' : declared.state === 'ok' ? declared.value : 'https';
    if (path !== undefined && host !== undefined) url = `${scheme}://${host}${path}`;
    // Istio's stock JSON format has no %RESPONSE_DURATION%, but has upstream_service_time: the router's
    // x-envoy-upstream-service-time, from the complete downstream request to the upstream's response headers (a
    // string, being a header). Nearly the same for a call without a long body; present only if the upstream answered.
    const serviceTime =
      responseDuration === undefined ? problems.optional(readNumber(line.upstream_service_time, DASH), 'upstream_service_time', 'number') : undefined;
    const waited = responseDuration ?? serviceTime ?? duration;
    timedOut =
      flags.has('UT') ||
      flags.has('UMSDR') ||
      flags.has('SI') ||
      noResponse ||
      (code === 504 && waited !== undefined && waited >= CLIENT_TIMEOUT_MS);
    if (responseDuration !== undefined) {
      durationMs = responseDuration; // start → first byte from the upstream: the PCM's processTimespan for CLIENT
    } else if (serviceTime !== undefined) {
      durationMs = serviceTime; // the upstream answered: until its response headers, as near as the stock format says
    } else if (!timedOut && [...flags].some((flag) => NOT_SENT_FLAGS.has(flag))) {
      problems.add(
        problem(
          'response_flags',
          'not_proxied',
          `Envoy answered this call itself (${[...flags].join(',')}): it never reached the other participant, so there is no CLIENT call to report`,
          line.response_flags,
        ),
      );
    } else {
      durationMs = duration; // no upstream byte: how long the call lasted until it failed or timed out
      if (durationMs === undefined && readNumber(line.duration, DASH).state === 'absent') {
        problems.add(problem('duration', 'required', 'Missing fields: duration (%DURATION%, nor %RESPONSE_DURATION%)'));
      }
    }
  }
  if (code === undefined && !timedOut && readNumber(line.response_code, DASH).state === 'absent') {
    problems.add(problem('response_code', 'required', 'Missing fields: response_code (%RESPONSE_CODE%)'));
  }

  return assemble(problems, {
    role,
    method,
    url,
    // A code of 0 means no answer was given (a timeout or a caller that left): there is no status to report.
    status: code !== undefined && code > 0 ? code : undefined,
    timedOut,
    startTime,
    durationMs,
    fapiInteractionId,
    counterpartyOrgId,
    orgId,
    clientSSId,
    correlationId,
    additionalInfo,
    accessToken,
  });
}
