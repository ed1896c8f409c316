// Micro-benchmark of reconciliation's cost on the delivery path (issue #10 part 3): the sender calls
// Reconciler.accepted() for every batch the PCM accepted. Nanoseconds per accepted report, medians of ROUNDS rounds
// of BATCHES batches of 5000 rows (bench/lib.js spoolRows: the JSON as the spool stores it), in one process:
//
//   - loop:     a bare pass over the batch's results (what any per-report bookkeeping costs at least)
//   - sampled:  accepted() when the budget covers a small share of the traffic (the usual case: the sample rate is
//               GET capacity ÷ accepted rate, e.g. 0.072/s ÷ 2400/s = 3·10⁻⁵ at the defaults)
//   - all:      accepted() when every report is taken (rate 1: parse + buffer each; only reached when the accepted
//               rate is at most the GET capacity, i.e. a few dozen reports/s)
//   - parse:    JSON.parse of every body, what deciding after extracting would cost
//
//   npm run build && node bench/reconcile-hook.js [--rounds 7] [--batches 20]
//
// Not a test: nothing here asserts a time.
import { createLogger } from '../dist/log.js';
import { Reconciler } from '../dist/reconcile/reconciler.js';
import { reportFacts } from '../dist/reconcile/extract.js';
import { DEFAULTS } from '../dist/config/defaults.js';
import { RateBudget } from '../dist/sender/rate-budget.js';
import { machine, median, rowPrefix, spoolRows } from './lib.js';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
};
const ROUNDS = Math.max(3, option('rounds', 7));
const BATCHES = Math.max(1, option('batches', 20));
const BATCH = 5000;

const now = Date.now();
const rows = spoolRows({ now, prefix: rowPrefix() });
const batches = Array.from({ length: BATCHES }, (_, b) => {
  const reports = rows.next(BATCH);
  const at = now - 1000;
  return {
    lane: `private:${reports[0].orgId}`,
    orgId: reports[0].orgId,
    stream: 'private',
    rows: reports.map((r, i) => ({ id: b * BATCH + i + 1, body: r.json, at })),
    results: reports.map((_, i) => ({ id: b * BATCH + i + 1, state: 'accepted', reportId: `r-${i}`, message: null, at })),
  };
});

/** A reconciler on a frozen clock whose budget allows `rate` calls/s; its sampler is told `acceptedPerSecond`. */
function reconciler(rate, acceptedPerSecond) {
  let t = now;
  const clock = { now: () => t, sleep: () => new Promise(() => undefined) };
  const budget = new RateBudget({ rate, burst: 1, decrease: 0.5, decreaseHoldMs: 1000, increase: 0.05, minRate: 0.01, clock });
  const settings = { ...DEFAULTS.reconcile, maxEntries: Number.MAX_SAFE_INTEGER };
  const r = new Reconciler(
    { settings, path: ':memory:', apiUrl: 'https://127.0.0.1:9', caFile: undefined, connectTimeoutMs: 1000 },
    { budget, tokens: () => undefined, log: createLogger('silent'), clock, client: { ask: async () => ({ kind: 'not-found' }), close: async () => undefined } },
  );
  // One sample interval of that traffic, so the sampler's rate is the steady one.
  r.sampler.observe(acceptedPerSecond * (settings.sampleIntervalMs / 1000));
  t += settings.sampleIntervalMs;
  r.tick(t);
  return r;
}

function timeNsPerReport(fn) {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / (BATCHES * BATCH);
}

const results = { loop: [], sampled: [], all: [], parse: [], facts: [] };
let sink = 0;
for (let round = 0; round < ROUNDS; round++) {
  results.loop.push(
    timeNsPerReport(() => {
      for (const b of batches) for (let i = 0; i < b.results.length; i++) if (b.results[i].state === 'accepted') sink += b.rows[i].at & 1;
    }),
  );
  // Default budget (0.48/s × 0.2 share) against 2400 accepted reports/s.
  const low = reconciler(0.48, 2400);
  results.sampled.push(timeNsPerReport(() => batches.forEach((b) => low.accepted(b))));
  sink += low.store.size;
  // A budget far above the traffic: every report taken.
  const high = reconciler(1e9, 1);
  results.all.push(timeNsPerReport(() => batches.forEach((b) => high.accepted(b))));
  sink += high.store.size;
  results.parse.push(timeNsPerReport(() => batches.forEach((b) => b.rows.forEach((r) => (sink += JSON.parse(r.body).statusCode)))));
  results.facts.push(timeNsPerReport(() => batches.forEach((b) => b.rows.forEach((r) => (sink += reportFacts(r.body).endpoint.length)))));
  if (round === 0) console.error(`sample rate at the defaults against 2400 reports/s: ${low.sampleRate.toExponential(2)}; taken in one round: ${low.store.size}`);
}

const m = machine();
console.log(`reconcile hook, ns per accepted report (median of ${ROUNDS} rounds × ${BATCHES} batches of ${BATCH}); ${m.cpuModel ?? ''} ${m.node ?? process.version}`);
for (const [name, values] of Object.entries(results)) console.log(`${name.padEnd(8)} ${median(values).toFixed(1)}`);
if (sink === 0.5) console.log('');
