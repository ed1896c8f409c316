import { DURATION_BUCKETS, type Metrics } from '../metrics.js';
import type { LanePost, LaneStatus } from './lane.js';
import { RATE_CALLS, type RateBudgetStatus, type RateCall } from './rate-budget.js';
import type { Sender } from './sender.js';

/** Reports per batch POST: from a lone report to a full batch (PCM_MAX_BATCH_SIZE, 5000 at most). */
const BATCH_REPORT_BUCKETS: readonly number[] = [1, 10, 50, 100, 500, 1000, 2500, 5000];

const TOKEN_RESULTS = ['ok', 'refused', 'error'] as const;

/**
 * The sender's metrics bumped as each batch POST ends (the lanes' onPosted hook): requests by status, batch sizes and
 * durations. Returns the hook; register before the Sender is built, as the hook is one of its constructor's.
 */
export function senderPostMetrics(metrics: Metrics): (post: LanePost) => void {
  const requests = metrics.liveCounter(
    'pcm_sidecar_sender_requests_total',
    'Batch POSTs to the PCM (on an agent: to its aggregator), by organisation, stream and HTTP status code; "none" when no answer came (network, TLS, timeout).',
    ['org', 'stream', 'status_code'],
  );
  const reports = metrics.histogram('pcm_sidecar_sender_batch_reports', 'Reports per batch POST, by organisation and stream (every attempt).', ['org', 'stream'], BATCH_REPORT_BUCKETS);
  const duration = metrics.histogram(
    'pcm_sidecar_sender_batch_duration_seconds',
    'Seconds of each batch POST, from sending it to its answer read whole (the rate budget\'s wait not included), by organisation and stream.',
    ['org', 'stream'],
    DURATION_BUCKETS,
  );
  return (post) => {
    const labels = { org: post.orgId, stream: post.stream };
    requests.inc({ ...labels, status_code: post.statusCode === null ? 'none' : String(post.statusCode) });
    reports.observe(labels, post.reports);
    duration.observe(labels, post.seconds);
  };
}

/** Lanes grouped by organisation (its private and opendata lanes), for metrics labelled by `org` alone. */
function byOrg(lanes: LaneStatus[]): { org: string; lanes: LaneStatus[] }[] {
  const groups = new Map<string, LaneStatus[]>();
  for (const lane of lanes) groups.set(lane.orgId, [...(groups.get(lane.orgId) ?? []), lane]);
  return [...groups].map(([org, members]) => ({ org, lanes: members }));
}

/** The sender's metrics read from its lanes and its rate budget at each scrape. */
export function registerSenderMetrics(metrics: Metrics, sender: Pick<Sender, 'status' | 'rate'>): void {
  const lanes = <L extends string>(read: (lane: LaneStatus, labels: { org: string; stream: string }) => { labels: Record<L, string>; value: number }[]) => () =>
    sender.status().flatMap((l) => read(l, { org: l.orgId, stream: l.stream }));
  metrics.counter(
    'pcm_sidecar_sender_reports_total',
    "Reports by the PCM's own answer to each (on an agent: its aggregator's), by organisation, stream and outcome: accepted, discarded (DISCARDED in the answer), refused (the request holding it alone was refused); the last two are dead letters.",
    ['org', 'stream', 'outcome'],
    lanes((l, labels) => [
      { labels: { ...labels, outcome: 'accepted' }, value: l.answered.accepted },
      { labels: { ...labels, outcome: 'discarded' }, value: l.answered.discarded },
      { labels: { ...labels, outcome: 'refused' }, value: l.answered.refused },
    ]),
  );
  metrics.counter(
    'pcm_sidecar_sender_retries_total',
    'Batch attempts that failed and are tried again (after a backoff, or split when the PCM refuses the batch), by organisation and stream.',
    ['org', 'stream'],
    lanes((l, labels) => [{ labels, value: l.retries }]),
  );
  metrics.gauge(
    'pcm_sidecar_sender_ready',
    '1 when the lane can deliver: a usable certificate, a token, no 403, no stall (GET /readyz says why not); by organisation and stream.',
    ['org', 'stream'],
    lanes((l, labels) => [{ labels, value: l.ready ? 1 : 0 }]),
  );
  metrics.gauge(
    'pcm_sidecar_sender_rate_limit_requests_per_second',
    'PCM calls per second the rate budget allows this process: current (lowered by 429s, recovering with 2xx) and configured.',
    ['limit'],
    () => {
      const rate = sender.rate();
      return [
        { labels: { limit: 'current' }, value: rate.rate },
        { labels: { limit: 'configured' }, value: rate.configuredRate },
      ];
    },
  );
  const perCall = (pick: (rate: RateBudgetStatus) => Record<RateCall, number>) => () => {
    const picked = pick(sender.rate());
    return RATE_CALLS.map((call) => ({ labels: { call }, value: picked[call] }));
  };
  metrics.counter('pcm_sidecar_sender_rate_limit_wait_seconds_total', 'Seconds PCM calls waited for the rate budget, by call (report, token, reconcile).', ['call'], perCall((r) => r.waitSeconds));
  metrics.counter('pcm_sidecar_sender_rate_limit_calls_total', 'PCM calls made under the rate budget, by call (report, token, reconcile).', ['call'], perCall((r) => r.calls));
  metrics.counter('pcm_sidecar_sender_rate_limit_throttled_total', 'PCM answers 429 (Too Many Requests), by call (report, token, reconcile).', ['call'], perCall((r) => r.throttled));
  metrics.counter(
    'pcm_sidecar_token_refreshes_total',
    'Token requests by organisation and result: ok, refused (a 4xx other than 429: invalid_client, ClientId not valid to the orgId), error (network, TLS, 5xx, 429).',
    ['org', 'result'],
    () =>
      byOrg(sender.status()).flatMap(({ org, lanes: members }) =>
        TOKEN_RESULTS.map((result) => ({ labels: { org, result }, value: members.reduce((sum, l) => sum + l.tokenRefreshes[result], 0) })),
      ),
  );
  metrics.gauge(
    'pcm_sidecar_token_expiry_seconds',
    "Seconds until the organisation's token in use expires (the soonest of its lanes'); absent before the first token.",
    ['org'],
    () =>
      byOrg(sender.status()).flatMap(({ org, lanes: members }) => {
        const left = members.flatMap((l) => (l.tokenExpiresInSeconds === null ? [] : [l.tokenExpiresInSeconds]));
        return left.length === 0 ? [] : [{ labels: { org }, value: Math.min(...left) }];
      }),
  );
}
