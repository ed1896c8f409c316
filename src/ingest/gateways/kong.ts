import {
  CLIENT_TIMEOUT_MS,
  describe,
  headerValue,
  isRecord,
  assemble,
  problem,
  Problems,
  readNumber,
  readObject,
  readRole,
  readText,
  resolveRole,
  type GatewayOptions,
  type MappingResult,
  type Read,
  type Role,
} from './common.js';

export type { GatewayOptions, MappingResult } from './common.js';

/**
 * Kong 3.x http-log payload (one JSON object per request, as `kong.log.serialize()` builds it in kong/pdk/log.lua)
 * → RawInteraction. Fields used: request.{method,url,uri,headers}, response.{status,headers}, started_at (epoch ms),
 * latencies.{request,proxy}, upstream_uri, service.{protocol,host,port}, source (3.6+), and the fields the plugin's
 * `custom_fields_by_lua` adds under `pcm.` (Kong splits a dotted key into nested objects: `pcm.role` → {"pcm":
 * {"role": …}}). The decisions, with their sources, are in deploy/gateways/kong/README.md.
 */

/** nginx's "client closed request": the caller stopped waiting before any response was sent. */
const CLIENT_CLOSED_REQUEST = 499;

/** `custom_fields_by_lua` value `pcm.<name>`: nested as Kong writes it, or a literal dotted key if a serializer kept it flat. */
function custom(payload: Record<string, unknown>, name: string): unknown {
  const pcm = payload.pcm;
  if (isRecord(pcm) && pcm[name] !== undefined) return pcm[name];
  return payload[`pcm.${name}`];
}

/**
 * `source` says who produced the response: "upstream"/"service" (the proxied service) or Kong itself ("kong",
 * or "error"/"exit" as kong.response.get_source() names it). Absent before Kong 3.6.
 */
function answeredByKong(source: Read<string>): boolean | undefined {
  if (source.state !== 'ok') return undefined;
  const value = source.value.toLowerCase();
  return value !== 'upstream' && value !== 'service';
}

function defaultPort(protocol: string, port: number | undefined): boolean {
  return port === undefined || (protocol === 'https' && port === 443) || (protocol === 'http' && port === 80);
}

/** CLIENT: where Kong sent the call — the service's protocol, host and port, and upstream_uri (path + query). */
function upstreamUrl(payload: Record<string, unknown>, problems: Problems): string | undefined {
  const service = isRecord(payload.service) ? payload.service : {};
  const protocol = problems.need(readText(service.protocol), 'service.protocol', 'the protocol of the Kong service the call was proxied to', 'string');
  const host = problems.need(readText(service.host), 'service.host', 'the host of the Kong service the call was proxied to; or set pcm.url', 'string');
  const port = problems.optional(readNumber(service.port), 'service.port', 'number');
  const uri = problems.need(readText(payload.upstream_uri), 'upstream_uri', 'the path and query Kong sent upstream; or set pcm.url', 'string');
  if (protocol === undefined || host === undefined || uri === undefined) return undefined;
  if (protocol !== 'https' && protocol !== 'http') {
    problems.add(problem('service.protocol', 'enum', `Invalid enum value. Expected 'https' | 'http', received '${protocol}'`, protocol));
    return undefined;
  }
  return `${protocol}://${host}${defaultPort(protocol, port) ? '' : `:${String(port)}`}${uri}`;
}

export function fromKong(payload: unknown, options: GatewayOptions): MappingResult {
  if (!isRecord(payload)) {
    return {
      ok: false,
      problems: [problem('(payload)', 'type', `Field type mismatch: expected one Kong http-log object, received ${describe(payload)}`)],
    };
  }
  const problems = new Problems();
  const request = isRecord(payload.request) ? payload.request : {};
  const response = isRecord(payload.response) ? payload.response : {};
  const latencies = isRecord(payload.latencies) ? payload.latencies : {};

  const role: Role | undefined = resolveRole(
    readRole(custom(payload, 'role')),
    options.role,
    'pcm.role',
    "set it with the http-log plugin's custom_fields_by_lua, or post to /v1/gateways/kong?role=CLIENT|SERVER",
    problems,
  );
  const method = problems.need(readText(request.method), 'request.method', 'the HTTP method', 'string');
  const status = problems.need(readNumber(response.status), 'response.status', 'the HTTP status Kong answered', 'number');
  const startedAt = problems.need(readNumber(payload.started_at), 'started_at', 'when Kong received the request, epoch milliseconds', 'number');

  // The client's id; if it sent none, the one the server generated and returned (pcm-rules.md §2.1).
  const fapiRequest = headerValue(request.headers, 'x-fapi-interaction-id');
  const fapiResponse = headerValue(response.headers, 'x-fapi-interaction-id');
  const fapiInteractionId = fapiRequest.state === 'ok' ? fapiRequest.value : fapiResponse.state === 'ok' ? fapiResponse.value : undefined;
  if (fapiInteractionId === undefined) {
    problems.add(
      problem(
        'request.headers.x-fapi-interaction-id',
        'required',
        'Missing fields: fapiInteractionId (no x-fapi-interaction-id header in request.headers, nor in response.headers)',
      ),
    );
  }

  const counterpartyOrgId = problems.need(
    readText(custom(payload, 'counterpartyOrgId')),
    'pcm.counterpartyOrgId',
    "the other participant's organisationId; set it with custom_fields_by_lua (see deploy/gateways/kong)",
    'string',
  );
  const additionalInfo = problems.optional(readObject(custom(payload, 'additionalInfo')), 'pcm.additionalInfo', 'object');
  const orgId = problems.optional(readText(custom(payload, 'orgId')), 'pcm.orgId', 'string');
  const clientSSId = problems.optional(readText(custom(payload, 'clientSSId')), 'pcm.clientSSId', 'string');
  const correlationId = problems.optional(readText(custom(payload, 'correlationId')), 'pcm.correlationId', 'string');
  const urlOverride = problems.optional(readText(custom(payload, 'url')), 'pcm.url', 'string');
  // CLIENT: the call's Authorization value, for tokenId (build.ts); Kong's own serializer redacts that header.
  const accessToken = role === 'CLIENT' ? problems.optional(readText(custom(payload, 'accessToken')), 'pcm.accessToken', 'string') : undefined;

  const proxy = readNumber(latencies.proxy);
  const proxyMs = proxy.state === 'ok' && proxy.value >= 0 ? proxy.value : undefined;
  const byKong = answeredByKong(readText(payload.source));

  let url: string | undefined;
  let timedOut = false;
  let durationMs: number | undefined;
  if (role === 'SERVER') {
    // What the caller asked for, as Kong received it (prefix such as /opbk and query kept); a path alone would do.
    const full = readText(request.url);
    const path = readText(request.uri);
    url = urlOverride ?? (full.state === 'ok' ? full.value : path.state === 'ok' ? path.value : undefined);
    if (url === undefined) problems.add(problem('request.url', 'required', 'Missing fields: request.url (nor request.uri)'));
    // The caller gave up (499), or Kong gave up on an incomplete request (408 not from the service).
    timedOut = status === CLIENT_CLOSED_REQUEST || (status === 408 && byKong === true);
    durationMs = problems.need(readNumber(latencies.request), 'latencies.request', 'from the first request byte to the last response byte', 'number');
  } else if (role === 'CLIENT') {
    url = urlOverride ?? upstreamUrl(payload, problems);
    // Kong gave up waiting for the other participant (its 504), or the wait passed the PCM's 15 s, or the calling
    // application gave up (499).
    timedOut =
      status === CLIENT_CLOSED_REQUEST || (status === 504 && (byKong === true || (proxyMs !== undefined && proxyMs >= CLIENT_TIMEOUT_MS)));
    if (proxyMs !== undefined) {
      durationMs = proxyMs; // Kong → upstream until the response headers: the PCM's "until the first response byte".
    } else if (timedOut) {
      durationMs = problems.need(readNumber(latencies.request), 'latencies.request', 'how long the caller waited', 'number');
    } else {
      problems.add(
        problem(
          'latencies.proxy',
          'not_proxied',
          'Kong answered this call itself (latencies.proxy is -1 or absent): it never reached the other participant, so there is no CLIENT call to report',
          latencies.proxy,
        ),
      );
    }
  }

  return assemble(problems, {
    role,
    method,
    url,
    status,
    timedOut,
    startTime: startedAt,
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
