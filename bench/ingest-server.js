// Child process: the server under load for the ingest benchmarks.
//   mode "sidecar": the real pipeline (startSidecar), spool at options.spoolPath, sender pointed at options.pcmUrl.
//   mode "bare":    the baseline, a bare node:http server that reads the body, JSON.parse's it and answers 202.
// Tells the parent {type:'ready', url}; on {cmd:'stop'} it stops and tells {type:'stopped', ...} before exiting.
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { configSchema } from '../dist/config/schema.js';
import { createLogger } from '../dist/log.js';
import { startSidecar } from '../dist/sidecar.js';
import { childOptions, ORGS, tell } from './lib.js';

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
  const config = configSchema.parse({
    ingest: { host: '127.0.0.1', port: 0 },
    spool: { path: options.spoolPath, sync: options.sync ?? 'full' },
    pcm: { apiUrl: options.pcmUrl, authUrl: options.pcmUrl, caFile: options.pki.caCert },
    organisations: ORGS.map((o) => ({ ...o, certFile: options.pki.clients[o.orgId].cert, keyFile: options.pki.clients[o.orgId].key })),
    log: { level: options.logLevel ?? 'error' },
  });
  const sidecar = await startSidecar(config, createLogger(config.log.level));
  return {
    url: sidecar.ingestUrl,
    async stop() {
      const counts = sidecar.spool.counts();
      const lanes = sidecar.sender.status();
      await sidecar.stop(2000);
      return { counts, lanes };
    },
  };
}

const running = options.mode === 'bare' ? await startBare() : await startPipeline();
await tell({ type: 'ready', url: running.url, pid: process.pid });

// {cmd:'mark'} starts the measured interval (after the warm-up): CPU time and event-loop utilisation are taken from it.
let mark = { cpu: process.cpuUsage(), elu: performance.eventLoopUtilization() };
process.on('message', async (msg) => {
  if (msg?.cmd === 'mark') {
    mark = { cpu: process.cpuUsage(), elu: performance.eventLoopUtilization() };
    await tell({ type: 'marked' });
    return;
  }
  if (msg?.cmd !== 'stop') return;
  const cpu = process.cpuUsage(mark.cpu);
  const elu = performance.eventLoopUtilization(mark.elu);
  const result = await running.stop();
  await tell({
    type: 'stopped',
    ...result,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    eventLoopUtilization: elu.utilization,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
  });
  process.exit(0);
});
// Never outlive the parent.
process.on('disconnect', () => process.exit(0));
