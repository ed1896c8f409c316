// Child process: the server under load for the ingest benchmarks.
//   mode "sidecar": the real pipeline (startSidecar), spool at options.spoolPath, sender pointed at options.pcmUrl.
//   mode "bare":    the baseline, a bare node:http server that reads the body, JSON.parse's it and answers 202.
// Tells the parent {type:'ready', url, pid}. {cmd:'mark'} starts a measured window, {cmd:'read'} ends it with the
// event-loop utilisation in between ({type:'read'}; CPU and memory the parent reads from /proc). On {cmd:'stop'} it
// stops and tells {type:'stopped', counts, lanes} (the sidecar's spool counts and sender status) before exiting.
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { createLogger } from '../dist/log.js';
import { startSidecar } from '../dist/sidecar.js';
import { Spool } from '../dist/spool/spool.js';
import { childOptions, configApart, ORGS, tell } from './lib.js';

const options = childOptions();

async function startBare() {
  const server = createServer((req, res) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      chunks.push(chunk);
      size += chunk.length;
    });
    req.on('end', () => {
      let status = 202;
      let text;
      try {
        const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
        const parsed = JSON.parse(body.toString('utf8'));
        text = JSON.stringify({ accepted: Array.isArray(parsed) ? parsed.length : 1, duplicates: 0 });
      } catch (err) {
        status = 400;
        text = JSON.stringify({ error: err.message });
      }
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  server.keepAliveTimeout = 65_000; // as the ingest server
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      return {};
    },
  };
}

async function startPipeline() {
  const config = await configApart({
    ingest: { host: '127.0.0.1', port: 0, ...(options.parseThreads ? { parseThreads: options.parseThreads } : {}), ...(options.largeBodyGcBytes !== undefined ? { largeBodyGcBytes: options.largeBodyGcBytes } : {}) },
    admin: { host: '127.0.0.1', port: 0 },
    spool: { path: options.spoolPath, sync: options.sync ?? 'full' },
    pcm: { apiUrl: options.pcmUrl, authUrl: options.pcmUrl, caFile: options.pki.caCert },
    organisations: ORGS.map((o) => ({ ...o, certFile: options.pki.clients[o.orgId].cert, keyFile: options.pki.clients[o.orgId].key })),
    log: { level: options.logLevel ?? 'error' },
  });
  const sidecar = await startSidecar(config, createLogger(config.log.level));
  return {
    url: sidecar.ingestUrl,
    async stop() {
      await sidecar.stop(2000);
      const lanes = sidecar.sender.status();
      // After the stop (requests in flight answered, leased rows released) the spool is final: open it again through
      // its public API, leaving rows in flight as they are, and count.
      let counts;
      try {
        const spool = new Spool({ path: options.spoolPath, sync: 'normal', guest: true });
        counts = spool.counts();
        await spool.close();
      } catch (err) {
        counts = { error: String(err) };
      }
      return { counts, lanes };
    },
  };
}

const running = options.mode === 'bare' ? await startBare() : await startPipeline();
await tell({ type: 'ready', url: running.url, pid: process.pid });

let mark = performance.eventLoopUtilization();
// options.memProbe: the process's memory split at the moment of its highest RSS (for finding where a peak sits).
let peakMemory = null;
if (options.memProbe) {
  const v8 = await import('node:v8');
  setInterval(() => {
    const m = process.memoryUsage();
    if (peakMemory && m.rss <= peakMemory.rss) return;
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, Math.round(s.space_size / 1048576)]));
    peakMemory = { ...Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v / 1048576)])), rss: m.rss, rssMiB: Math.round(m.rss / 1048576), spaces };
  }, 20).unref();
}
process.on('message', async (msg) => {
  if (msg?.cmd === 'mark') {
    mark = performance.eventLoopUtilization();
    await tell({ type: 'marked' });
    return;
  }
  if (msg?.cmd === 'read') {
    await tell({ type: 'read', eventLoopUtilization: performance.eventLoopUtilization(mark).utilization });
    return;
  }
  if (msg?.cmd !== 'stop') return;
  const result = await running.stop();
  await tell({ type: 'stopped', ...result, peakMemory });
  process.exit(0);
});
// Never outlive the parent.
process.on('disconnect', () => process.exit(0));
