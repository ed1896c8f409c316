// Child process: the loopback PCM the drain benchmark sends to.
//   mode "emulator": the project's PcmEmulator (mTLS token, validates every item, keeps every report in memory).
//   mode "trivial":  an HTTPS server that answers /token/ with a fixed token and each report POST with 200 and one
//                    {"status":"ACCEPTED"} per item, found by a byte scan of the array (no JSON.parse, no validation).
//   mode "plain":    the same over plain HTTP, answering every POST 200 and counting the items of its JSON array
//                    body: the loopback end of Fluent Bit's out_http (format json) in the ingest-array100 scenario.
// The emulator keeps its state in memory (SQLite ':memory:', its default without --state FILE) and at least
// options.maxReports reports, so no report of a run is pruned before it is counted.
// Tells the parent {type:'ready', url}; {cmd:'stats'} → {type:'stats', ...}; {cmd:'stop'} → {type:'stopped'} and exit.
import { readFileSync } from 'node:fs';
import { createServer as createPlainServer } from 'node:http';
import { createServer } from 'node:https';
import { EMULATOR_DEFAULTS, PcmEmulator } from '../dist/emulator/emulator.js';
import { childOptions, tell } from './lib.js';

const options = childOptions();
const tls = {
  cert: readFileSync(options.pki.serverCert),
  key: readFileSync(options.pki.serverKey),
  ca: readFileSync(options.pki.caCert),
};

/** Number of elements of a top-level JSON array of objects, by counting `{` at depth 1 outside strings. */
function countItems(buf) {
  let depth = 0;
  let inString = false;
  let count = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b) {
      if (depth === 1) count++;
      depth++;
    } else if (c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return count;
}

async function startTrivial(plain = false) {
  const stats = { tokenRequests: 0, reportRequests: 0, items: 0, other: 0 };
  let nextId = 0;
  const handler = (req, res) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      chunks.push(c);
      size += c.length;
    });
    req.on('end', () => {
      let status = 200;
      let text;
      if (req.method === 'POST' && req.url.startsWith('/token')) {
        stats.tokenRequests++;
        text = JSON.stringify({ access_token: 'bench-token', expires_in: 21600, token_type: 'Bearer' });
      } else if (req.method === 'POST' && plain) {
        stats.reportRequests++;
        stats.items += countItems(Buffer.concat(chunks, size));
        text = '{}';
      } else if (req.method === 'POST' && req.url.startsWith('/report-api/v1/private/report')) {
        stats.reportRequests++;
        const n = countItems(Buffer.concat(chunks, size));
        stats.items += n;
        const items = new Array(n);
        for (let i = 0; i < n; i++) items[i] = `{"reportId":"t-${nextId++}","status":"ACCEPTED"}`;
        text = `[${items.join(',')}]`;
      } else {
        stats.other++;
        status = 404;
        text = '{"message":"Not Found"}';
      }
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  };
  const server = plain ? createPlainServer(handler) : createServer({ ...tls, requestCert: false }, handler);
  server.keepAliveTimeout = 65_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `${plain ? 'http' : 'https'}://127.0.0.1:${server.address().port}`,
    port: server.address().port,
    stats: () => ({ ...stats }),
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function startEmulator() {
  // Reconciliation off (an hour's delay) and no rate limit: the benchmark measures the sidecar, not the pairing.
  const emulator = new PcmEmulator({
    ...EMULATOR_DEFAULTS,
    port: 0,
    authPort: 0,
    rateLimit: 1e9,
    pairingDelayMs: 3_600_000,
    maxReports: Math.max(EMULATOR_DEFAULTS.maxReports, options.maxReports ?? 0),
    ...tls,
  });
  const url = await emulator.start();
  return { url, authUrl: emulator.authUrl, stats: () => emulator.snapshot(), stop: () => emulator.stop() };
}

const sink = options.mode === 'emulator' ? await startEmulator() : await startTrivial(options.mode === 'plain');
await tell({ type: 'ready', url: sink.url, authUrl: sink.authUrl ?? sink.url, port: sink.port ?? null, pid: process.pid });

process.on('message', async (msg) => {
  if (msg?.cmd === 'stats') {
    const cpu = process.cpuUsage();
    await tell({ type: 'stats', stats: sink.stats(), cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000 });
  } else if (msg?.cmd === 'stop') {
    await sink.stop();
    await tell({ type: 'stopped' });
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
