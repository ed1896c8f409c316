// Child process: the drain baseline. A bare undici loop that posts the same pre-serialised 5000-report batches the
// sidecar sends (lib.js spoolRows with the same `now` and `prefix` as the prefilled spool: byte-identical bodies, one
// lane per organisation, each organisation's reports in spool order) to the same sink, with the same number of
// batches in flight per organisation (options.concurrency, the sender's maxConcurrentBatches) and a bearer token per
// organisation fetched over mTLS before the clock starts. Per answer it does the least the sender must: read the
// body, JSON.parse it, check one result per report and count ACCEPTED/DISCARDED. No spool, no retries.
// Messages: {type:'ready'} (bodies built, tokens fetched) → {cmd:'go'} → {type:'done', ...} → exit.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { childOptions, ORGS, spoolRows, tell } from './lib.js';

const options = childOptions();
const { rows, batchSize = 5000, concurrency = 2, pki } = options;
const ca = readFileSync(pki.caCert);

// Bodies: the reports of the prefilled spool, split by organisation as the sender's lanes lease them.
const byOrg = new Map(ORGS.map((o) => [o.orgId, []]));
for (const r of spoolRows({ now: options.now, prefix: options.prefix }).next(rows)) byOrg.get(r.orgId).push(r.json);
const lanes = [];
for (const org of ORGS) {
  const jsons = byOrg.get(org.orgId);
  const batches = [];
  for (let i = 0; i < jsons.length; i += batchSize) {
    const slice = jsons.slice(i, i + batchSize);
    batches.push({ body: `[${slice.join(',')}]`, count: slice.length });
  }
  const tokenAgent = new Agent({ connect: { ca, cert: readFileSync(pki.clients[org.orgId].cert), key: readFileSync(pki.clients[org.orgId].key) } });
  const answer = await request(`${options.authUrl}/token/`, {
    method: 'POST',
    dispatcher: tokenAgent,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ client_id: org.clientId, grant_type: 'client_credentials' }),
  });
  const token = (await answer.body.json()).access_token;
  if (answer.statusCode !== 200 || typeof token !== 'string') throw new Error(`token for ${org.orgId}: ${answer.statusCode}`);
  await tokenAgent.close();
  lanes.push({ orgId: org.orgId, token, batches, next: 0 });
}
const agent = new Agent({ connect: { ca, rejectUnauthorized: true }, keepAliveTimeout: 30_000 });
const url = `${options.pcmUrl}/report-api/v1/private/report`;
const stats = { requests: 0, accepted: 0, discarded: 0, non2xx: 0, badAnswers: 0, errors: [] };

async function worker(lane) {
  while (lane.next < lane.batches.length) {
    const batch = lane.batches[lane.next++];
    const response = await request(url, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${lane.token}` },
      body: batch.body,
    });
    const text = await response.body.text();
    stats.requests++;
    if (response.statusCode !== 200 && response.statusCode !== 207) {
      stats.non2xx++;
      if (stats.errors.length < 3) stats.errors.push(`${response.statusCode} ${text.slice(0, 200)}`);
      continue;
    }
    const items = JSON.parse(text);
    if (!Array.isArray(items) || items.length !== batch.count) {
      stats.badAnswers++;
      continue;
    }
    for (const item of items) item.status === 'ACCEPTED' ? stats.accepted++ : stats.discarded++;
  }
}

await tell({ type: 'ready', pid: process.pid, batches: lanes.reduce((n, l) => n + l.batches.length, 0) });
await new Promise((resolve) => process.on('message', (msg) => msg?.cmd === 'go' && resolve()));
const started = performance.now();
const eluBefore = performance.eventLoopUtilization();
await Promise.all(lanes.flatMap((lane) => Array.from({ length: concurrency }, () => worker(lane))));
const elapsedMs = performance.now() - started;
const elu = performance.eventLoopUtilization(eluBefore);
await tell({ type: 'done', rows, elapsedMs, reportsPerSec: ((stats.accepted + stats.discarded) / elapsedMs) * 1000, eventLoopUtilization: elu.utilization, ...stats });
await agent.close();
process.exit(0);
