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
  type Read,
  type Role,
} from './common.js';

export type { GatewayOptions, MappingResult } from './common.js';

/**
 * One nginx JSON access log line, as the `log_format … escape=json` of deploy/gateways/nginx writes it (keys below,
 * each named after the nginx variable it holds), → RawInteraction. Taken as it comes: escape=json writes every
 * variable as a string, `""` when it is unset, and nginx's upstream variables write `-` for an attempt without a
 * value; both are absent here. Numbers are read as numbers or numeric strings. Keys a log shipper adds (Fluent Bit's
 * `date`, Vector's `file`/`host`) are ignored. Decisions and sources are in deploy/gateways/nginx/README.md.
 *
 * nginx has no start-time variable with milliseconds: `$msec` is when the line was written, i.e. the END of the
 * request, and `$request_time` is in SECONDS (`0.250`). So startTime = msec·1000 − request_time·1000 (epoch ms) and
 * every duration is converted from seconds explicitly; no number is ever taken as milliseconds by guess.
 */

/** The keys this mapping reads, and the nginx variable (or literal) each one is meant to hold. */
export const NGINX_LOG_KEYS = {
  msec: '$msec: when the line was written (the end of the request), epoch seconds with a millisecond fraction',
  request_time: '$request_time: seconds from the first request byte read to the last response byte sent',
  upstream_header_time: "$upstream_header_time: seconds until the upstream's response header (CLIENT processTimespan)",
  status: '$status',
  request_method: '$request_method',
  scheme: '$scheme',
  host: '$host',
  request_uri: '$request_uri: the path and query the caller sent, before any rewrite (the SERVER URL)',
  http_x_fapi_interaction_id: '$http_x_fapi_interaction_id',
  sent_http_x_fapi_interaction_id: '$sent_http_x_fapi_interaction_id: the id the server generated and returned',
  upstream_http_x_fapi_interaction_id: '$upstream_http_x_fapi_interaction_id (CLIENT): the id the other participant returned',
  ssl_client_s_dn: "$ssl_client_s_dn (SERVER): the caller's verified client certificate subject",
  ssl_client_verify: '$ssl_client_verify (SERVER): SUCCESS when that certificate was verified',
  upstream_url: 'https://$proxy_host$request_uri (CLIENT): where nginx sent the call',
  upstream_status: '$upstream_status',
  pcm_role: 'SERVER or CLIENT (a literal per log_format)',
  pcm_org_id: '$pcm_org_id (SERVER, a map on $host) or $http_x_pcm_org_id (CLIENT)',
  pcm_counterparty_org_id: '$http_x_pcm_counterparty_org_id (CLIENT only)',
  pcm_client_ssid: '$http_x_pcm_client_ssid (CLIENT)',
  pcm_correlation_id: '$http_x_pcm_correlation_id (CLIENT)',
  pcm_additional_info: '$upstream_http_x_pcm_additional_info (SERVER: from our backend) or $http_x_pcm_additional_info (CLIENT): a JSON object',
  http_authorization: "$http_authorization (CLIENT): the call's bearer token, from which the sidecar computes tokenId",
} as const;

const DASH = { dashIsAbsent: true } as const;

/** nginx's "client closed request": the caller went away before a response was sent. */
const CLIENT_CLOSED_REQUEST = 499;
const GATEWAY_TIMEOUT = 504;

/** Seconds (nginx's unit, millisecond resolution) → whole milliseconds, without float noise (0.25 → 250, not 250.00000000000003). */
function toMs(seconds: number): number {
  return Math.round(seconds * 1000);
}

/**
 * nginx's per-upstream lists: one value per server tried, separated by `, ` (the next server of the same upstream
 * group, proxy_next_upstream) or ` : ` (an internal redirect to another group), `-` for an attempt that has no value
 * (e.g. no response header arrived).
 */
function listItems(value: unknown): Read<string[]> {
  const text = readText(value, DASH);
  if (text.state !== 'ok') return text.state === 'absent' ? { state: 'absent' } : text;
  const items = text.value.split(/[,:]/).map((item) => item.trim());
  return items.every((item) => item === '-' || item === '') ? { state: 'absent' } : { state: 'ok', value: items };
}

/**
 * $upstream_header_time as a single number of seconds. When several upstreams were tried the values are SUMMED:
 * each is that attempt's time from connecting to its response header, and the caller waited for all of them in turn.
 * An attempt without a header (`-`: it failed before answering) adds nothing, since nginx does not say how long it took.
 */
function readHeaderSeconds(value: unknown): Read<number> {
  if (typeof value === 'number') return readNumber(value);
  const items = listItems(value);
  if (items.state !== 'ok') return items;
  let sum = 0;
  for (const item of items.value) {
    if (item === '-' || item === '') continue;
    if (!/^\d+(\.\d+)?$/.test(item)) return { state: 'invalid', value };
    sum += Number(item);
  }
  return { state: 'ok', value: sum };
}

/** The status of the last upstream tried ($upstream_status is a list like $upstream_header_time), if any. */
function lastUpstreamStatus(value: unknown): Read<number> {
  if (typeof value === 'number') return readNumber(value);
  const items = listItems(value);
  if (items.state !== 'ok') return items;
  const last = [...items.value].reverse().find((item) => item !== '-' && item !== '');
  return last !== undefined && /^\d{3}$/.test(last) ? { state: 'ok', value: Number(last) } : { state: 'invalid', value };
}

/** epoch seconds between 2001 and 5138: a value in milliseconds (or anything else) is not silently taken as seconds. */
function isEpochSeconds(value: number): boolean {
  return value >= 1e9 && value < 1e11;
}

export function fromNginx(record: unknown, options: GatewayOptions): MappingResult {
  if (!isRecord(record)) {
    return {
      ok: false,
      problems: [problem('(line)', 'type', `Field type mismatch: expected one nginx JSON access log object, received ${describe(record)}`)],
    };
  }
  const problems = new Problems();
  const role: Role | undefined = resolveRole(
    readRole(record.pcm_role, DASH),
    options.role,
    'pcm_role',
    'put a literal "pcm_role":"SERVER" or "CLIENT" in the log_format, or post to /v1/gateways/nginx?role=CLIENT|SERVER',
    problems,
  );
  const method = problems.need(readText(record.request_method, DASH), 'request_method', '$request_method', 'string');
  const status = problems.need(readNumber(record.status, DASH), 'status', '$status', 'number');

  // Start = end − duration, both from nginx's own clock, in epoch milliseconds.
  const msec = problems.need(readNumber(record.msec, DASH), 'msec', '$msec, the end of the request in epoch seconds', 'number');
  if (msec !== undefined && !isEpochSeconds(msec)) {
    problems.add(problem('msec', 'range', 'Invalid field value: msec must be epoch SECONDS with a fraction, as $msec writes it (e.g. 1767873600.211)', record.msec));
  }
  const requestSeconds = problems.need(readNumber(record.request_time, DASH), 'request_time', '$request_time, in seconds', 'number');
  if (requestSeconds !== undefined && requestSeconds < 0) {
    problems.add(problem('request_time', 'range', 'Invalid field value: request_time must be ≥ 0 seconds', record.request_time));
  }
  const requestMs = requestSeconds !== undefined ? toMs(requestSeconds) : undefined;
  const startTime = msec !== undefined && isEpochSeconds(msec) && requestMs !== undefined && requestMs >= 0 ? toMs(msec) - requestMs : undefined;

  const headerSeconds = problems.optional(readHeaderSeconds(record.upstream_header_time), 'upstream_header_time', 'seconds, or a list of them');
  const headerMs = headerSeconds !== undefined ? toMs(headerSeconds) : undefined;
  const upstreamStatusRead = lastUpstreamStatus(record.upstream_status);
  const upstreamStatus = problems.optional(upstreamStatusRead, 'upstream_status', 'an HTTP status, or a list of them');

  // The client's id; if it sent none, the one the server generated and returned (pcm-rules.md §2.1): as nginx sent it
  // on, else as the upstream returned it.
  const fapiInteractionId = [record.http_x_fapi_interaction_id, record.sent_http_x_fapi_interaction_id, record.upstream_http_x_fapi_interaction_id]
    .map((value) => readText(value, DASH))
    .find((read) => read.state === 'ok')?.value;
  if (fapiInteractionId === undefined) {
    problems.add(
      problem(
        'http_x_fapi_interaction_id',
        'required',
        'Missing fields: fapiInteractionId (no x-fapi-interaction-id in http_x_fapi_interaction_id, sent_http_x_fapi_interaction_id nor upstream_http_x_fapi_interaction_id)',
      ),
    );
  }

  // The other participant: said explicitly, else (SERVER) the OU of the client certificate nginx verified. nginx has
  // no variable for the upstream's server certificate, so a CLIENT line must say it.
  let counterpartyOrgId = problems.optional(readText(record.pcm_counterparty_org_id, DASH), 'pcm_counterparty_org_id', 'string');
  if (counterpartyOrgId === undefined && role !== undefined) {
    let why = 'for CLIENT, the x-pcm-counterparty-org-id header the application sets, or a literal per egress location';
    if (role === 'SERVER') {
      const subject = readText(record.ssl_client_s_dn, DASH);
      const verify = readText(record.ssl_client_verify, DASH);
      const verified = verify.state !== 'ok' || verify.value.toUpperCase() === 'SUCCESS';
      counterpartyOrgId = subject.state === 'ok' && verified ? orgIdFromSubject(subject.value) : undefined;
      why = verified
        ? 'nor is there an organisationId (OU) in ssl_client_s_dn; the server needs ssl_verify_client on'
        : `ssl_client_verify is ${verify.state === 'ok' ? verify.value : ''}, so ssl_client_s_dn is not trusted`;
    }
    if (counterpartyOrgId === undefined) {
      problems.add(problem('pcm_counterparty_org_id', 'required', `Missing fields: pcm_counterparty_org_id (the other participant's organisationId; ${why})`));
    }
  }

  const additionalInfo = problems.optional(readObject(record.pcm_additional_info, DASH), 'pcm_additional_info', 'object');
  const orgId = problems.optional(readText(record.pcm_org_id, DASH), 'pcm_org_id', 'string');
  const clientSSId = problems.optional(readText(record.pcm_client_ssid, DASH), 'pcm_client_ssid', 'string');
  const correlationId = problems.optional(readText(record.pcm_correlation_id, DASH), 'pcm_correlation_id', 'string');

  let url: string | undefined;
  let timedOut = false;
  let durationMs: number | undefined;
  let accessToken: string | undefined;
  if (role === 'SERVER') {
    // What the caller asked for ($request_uri: path and query before any rewrite, keeps /opbk) on the host it called;
    // a path alone would do.
    const uri = problems.need(readText(record.request_uri, DASH), 'request_uri', '$request_uri', 'string');
    const host = readText(record.host, DASH);
    const scheme = readText(record.scheme, DASH);
    if (uri !== undefined) url = host.state === 'ok' ? `${scheme.state === 'ok' ? scheme.value : 'https'}://${host.value}${uri}` : uri;
    // 499: the caller stopped waiting and closed the connection before nginx answered (as Kong, which is nginx, and
    // Envoy's RESPONSE_CODE 0). A 504 because our own backend was slow is what the caller got and stays a 504.
    timedOut = status === CLIENT_CLOSED_REQUEST;
    // $request_time: first request byte read → last response byte sent, the PCM's SERVER processTimespan.
    durationMs = requestMs;
  } else if (role === 'CLIENT') {
    // Where the call went: the full URL the log_format writes (https://$proxy_host$request_uri).
    const upstreamUrl = problems.need(readText(record.upstream_url, DASH), 'upstream_url', 'the https URL nginx proxied to, e.g. https://$proxy_host$request_uri', 'string');
    if (upstreamUrl !== undefined) {
      if (/^https?:\/\/[^/\s]+/i.test(upstreamUrl)) url = upstreamUrl;
      else problems.add(problem('upstream_url', 'format', 'Invalid field value: upstream_url must be an absolute http(s) URL, e.g. https://$proxy_host$request_uri', upstreamUrl));
    }
    // Without a usable upstream_url the line is refused anyway (a problem says why); the path the application asked
    // for still goes with the refusal, so that a health check nginx answered itself ("https:///healthz") is skipped.
    if (url === undefined) {
      const uri = readText(record.request_uri, DASH);
      if (uri.state === 'ok') url = uri.value;
    }
    const is504 = status === GATEWAY_TIMEOUT || upstreamStatus === GATEWAY_TIMEOUT;
    // Our application gave up (499, as Kong), or a 504 that is a timeout: nginx's own (no upstream response header
    // arrived: proxy_read_timeout / proxy_connect_timeout fired — set them to 15s), or any 504 after ≥ 15 s of waiting
    // (the PCM's client wait). A quick 504 the other participant sent itself is just a 504.
    timedOut = status === CLIENT_CLOSED_REQUEST || (is504 && (headerMs === undefined || headerMs >= CLIENT_TIMEOUT_MS));
    if (headerMs !== undefined) {
      durationMs = headerMs; // connecting to the other participant → its response header: "until the first response byte"
    } else if (!timedOut && upstreamStatusRead.state === 'absent') {
      problems.add(
        problem(
          'upstream_status',
          'not_proxied',
          'nginx answered this call itself (no upstream_status, no upstream_header_time): it never reached the other participant, so there is no CLIENT call to report',
          record.upstream_status,
        ),
      );
    } else {
      durationMs = requestMs; // no upstream header: how long the call lasted until it failed or timed out
    }
    accessToken = problems.optional(readText(record.http_authorization, DASH), 'http_authorization', 'string');
  }

  return assemble(problems, {
    role,
    method,
    url,
    status,
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
