import { existsSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { connect, type Socket } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Agent, request } from 'undici';
import { mulberry32 } from '../../src/random.js';
import { startSidecarProcess, twoOrgStack, type StartedSidecar, type TwoOrgStack } from '../helpers/stack.js';
import { stopProc } from '../helpers/processes.js';
import { bump, LogWatch, sleep } from './common.js';
import { hostileBodies as localHostileBodies } from './local-corpus.js';
import { cpuSecondsOf, RssSampler } from './rss.js';
import { ADMIN_TOKEN } from '../helpers/admin.js';

/**
 * The fuzz soak: generated hostile bodies on every ingest route of a `pcm-sidecar run` process (sending to a
 * `pcm-sidecar emulate` process), from several clients at once, plus raw-socket framing tricks (short bodies, slow
 * headers, trickled bodies, conflicting lengths, broken chunking, oversized headers, pipelining, aborts). Every body
 * must get an answer — never a 5xx — within the listener's configured request timeout plus a margin; a request
 * with no answer by then is a hang. Valid items among hostile ones must be stored. Peak RSS of the sidecar is
 * sampled throughout.
 *
 * Bodies come from test/fuzz/corpus.ts (`hostileBody(seed, index)`, or `hostileBodies(seed, count)`) when it exists,
 * else from the minimal generator in ./local-corpus.ts with the same interface.
 */

export interface FuzzOptions {
  label: string;
  seed: number;
  bodies: number;
  /** Clients posting at once. */
  concurrency: number;
  /** The sidecar's PCM_INGEST_MAX_BODY_BYTES and PCM_INGEST_MAX_ITEMS; the corpus is told the item limit, for bodies one item over it. */
  maxBodyBytes: number;
  maxItemsPerRequest: number;
  /**
   * Also tell the corpus the body limit, for bodies one byte over it: each is as large as the limit, so at soak scale
   * they would be most of the bytes sent. Off by default; a framing case declares a Content-Length over the limit
   * instead (413 from the header alone).
   */
  corpusTooLarge: boolean;
  /** Raw-socket framing cases, run beside the bodies. */
  framingCases: number;
  framingConcurrency: number;
  /** The sidecar's PCM_INGEST_REQUEST_TIMEOUT_MS / PCM_INGEST_HEADERS_TIMEOUT_MS for this run. */
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  /** An answer later than requestTimeoutMs + marginMs (or none) is a hang. */
  marginMs: number;
  sidecarEnv?: Record<string, string>;
  /** Keep the run's folder (spool, quarantine) even when the run is clean; it is always kept when it is not. */
  keep?: boolean;
  log?: (line: string) => void;
}

export const FUZZ_DEFAULTS: Omit<FuzzOptions, 'label' | 'bodies'> = {
  seed: 1,
  concurrency: 8,
  // Above the corpus's largest body (huge strings: up to ~0.9 MB).
  maxBodyBytes: 1024 * 1024,
  maxItemsPerRequest: 5000,
  corpusTooLarge: false,
  framingCases: 200,
  framingConcurrency: 16,
  requestTimeoutMs: 5000,
  headersTimeoutMs: 3000,
  marginMs: 5000,
};

export interface FuzzSummary {
  label: string;
  seed: number;
  corpus: string;
  durationMs: number;
  bodies: number;
  /** Bodies per route (without query). */
  routes: Record<string, number>;
  /** Bodies per corpus kind. */
  kinds: Record<string, number>;
  /** Body bytes sent, and the time spent building the bodies (in this process). */
  bytes: number;
  generationMs: number;
  /** Mean answer time per corpus kind, ms (where the time goes; not asserted). */
  meanMsByKind: Record<string, number>;
  /** Answers by status, plus `hang` (no answer in time) and `closed` (connection ended without an answer). */
  byStatus: Record<string, number>;
  fiveXx: number;
  hangs: number;
  closed: number;
  samples: string[];
  /** Valid items the bodies held, and how many of them the answers said were stored. */
  validItems: number;
  storedValidItems: number;
  /** Bodies whose answer stored fewer items than the body held valid ones (neighbours lost with a bad item). */
  neighboursLost: number;
  /** Bodies the corpus said must be refused as a whole but got a 2xx, or must be read item by item but did not. */
  unexpectedAnswers: number;
  framing: { cases: number; byOutcome: Record<string, number>; fiveXx: number; hangs: number; samples: string[] };
  sidecarErrorLogs: number;
  errorLogSamples: string[];
  /** Items in quarantine at the end (from /v1/status). */
  quarantined: number | null;
  healthyAfter: boolean;
  /** Exit code of the sidecar after SIGTERM at the end. */
  exitCode: number | null;
  peakSidecarRssMiB: number;
  /** CPU seconds the sidecar used over the run. */
  sidecarCpuSeconds: number | null;
  /** The run's folder when kept (a problem, or `keep`); a clean run deletes it. */
  keptAt: string | null;
}

/** One entry as this driver uses it, whatever the corpus's exact types. */
export interface FuzzEntry {
  /** What to POST to: the route, with a query when the corpus gives one. */
  path: string;
  route: string;
  contentType: string;
  body: string | Uint8Array;
  /** Items the sidecar must store. */
  validItems: number;
  /** `refused`: the body must be refused as a whole (4xx); `items`: read item by item (2xx); null: not said. */
  expect: 'items' | 'refused' | null;
  kind: string;
}

/** Entry `index` of the corpus of `seed`; `limits` are the sidecar's, for the corpus's over-the-limit bodies. */
type EntryAt = (seed: number, index: number) => FuzzEntry;

export interface CorpusLimits {
  maxBodyBytes?: number;
  maxItemsPerRequest?: number;
}

const CORPUS_FILE = fileURLToPath(new URL('../fuzz/corpus.ts', import.meta.url));

/** A corpus entry, read defensively: the fields this driver needs, with what the corpus may add. */
function normalise(raw: unknown): FuzzEntry {
  const entry = (raw ?? {}) as Record<string, unknown>;
  const valid = entry.validItems;
  const route = typeof entry.route === 'string' ? entry.route : '/v1/reports';
  const body = entry.body;
  return {
    path: typeof entry.path === 'string' ? entry.path : route,
    route: route.split('?')[0] ?? route,
    contentType: typeof entry.contentType === 'string' ? entry.contentType : '',
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body ?? null),
    validItems: typeof valid === 'number' ? valid : Array.isArray(valid) ? valid.length : 0,
    expect: entry.expect === 'items' || entry.expect === 'refused' ? entry.expect : null,
    kind: typeof entry.kind === 'string' ? entry.kind : 'local',
  };
}

/**
 * test/fuzz/corpus.ts when it is there — `hostileBody(seed, index, options)` streamed one at a time (so a long run
 * walks its whole coverage cycle in constant memory), or `hostileBodies(seed, count)` — else the local generator.
 */
export async function loadCorpus(limits: CorpusLimits): Promise<{ source: string; entryAt: EntryAt }> {
  if (existsSync(CORPUS_FILE)) {
    const mod = (await import(pathToFileURL(CORPUS_FILE).href)) as Record<string, unknown>;
    const one = mod.hostileBody;
    if (typeof one === 'function') {
      return { source: 'test/fuzz/corpus.ts', entryAt: (seed, index) => normalise((one as (s: number, i: number, o: object) => unknown)(seed, index, limits)) };
    }
    const many = mod.hostileBodies;
    if (typeof many === 'function') return { source: 'test/fuzz/corpus.ts', entryAt: chunked((seed, count) => (many as (s: number, c: number) => unknown[])(seed, count)) };
    throw new Error('test/fuzz/corpus.ts exports neither hostileBody(seed, index) nor hostileBodies(seed, count)');
  }
  return { source: 'test/soak/local-corpus.ts', entryAt: chunked(localHostileBodies) };
}

/** Entries from a `(seed, count) → list` generator, asked for a chunk at a time (seed + chunk number). */
function chunked(generate: (seed: number, count: number) => readonly unknown[], size = 500): EntryAt {
  let chunkNo = -1;
  let chunk: readonly unknown[] = [];
  return (seed, index) => {
    const no = Math.floor(index / size);
    if (no !== chunkNo) {
      chunk = generate(seed * 1_000_003 + no, size);
      chunkNo = no;
    }
    return normalise(chunk[index % size]);
  };
}

function errorCode(err: unknown): string {
  if (err instanceof Error) return (err as Error & { code?: string }).code ?? err.name;
  return String(err);
}

const HANG_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'TimeoutError', 'AbortError', 'UND_ERR_ABORTED']);

// ---------------------------------------------------------------------------------------------------------------
// Framing tricks over a raw socket

type FramingOutcome = { kind: 'answer'; status: number } | { kind: 'closed' } | { kind: 'hang' } | { kind: 'aborted' };

interface FramingCase {
  name: string;
  /** Writes to the socket; may keep writing (a trickle) until `open()` turns false. */
  write(socket: Socket, open: () => boolean, rand: () => number): Promise<void>;
  /** The case ends the connection itself (a client abort): no answer is expected. */
  aborts?: boolean;
}

const REPORT = JSON.stringify([{ role: 'SERVER' }]);

function head(lines: string[]): string {
  return `${lines.join('\r\n')}\r\n\r\n`;
}

const FRAMING: readonly FramingCase[] = [
  {
    name: 'content-length longer than the body',
    async write(s) {
      s.write(head(['POST /v1/reports HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 1000']) + REPORT);
    },
  },
  {
    name: 'Content-Length over the body limit',
    async write(s) {
      s.write(head(['POST /v1/reports HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 1000000000']) + '[{"role":"SERVER"');
    },
  },
  {
    name: 'headers never finished (slowloris)',
    async write(s) {
      s.write('POST /v1/reports HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    },
  },
  {
    name: 'headers trickled',
    async write(s, open) {
      s.write('POST /v1/interactions HTTP/1.1\r\nHost: x\r\n');
      for (let i = 0; i < 1000 && open(); i++) {
        s.write(`X-${i}: a\r\n`);
        await sleep(250);
      }
    },
  },
  {
    name: 'body trickled',
    async write(s, open) {
      s.write(head(['POST /v1/gateways/kong HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 100000']));
      for (let i = 0; i < 1000 && open(); i++) {
        s.write('[');
        await sleep(200);
      }
    },
  },
  {
    name: 'chunked body never ended',
    async write(s) {
      s.write(head(['POST /v1/gateways/envoy HTTP/1.1', 'Host: x', 'Content-Type: application/x-ndjson', 'Transfer-Encoding: chunked']) + '5\r\n{"a":\r\n');
    },
  },
  {
    name: 'Content-Length and Transfer-Encoding',
    async write(s) {
      s.write(head(['POST /v1/reports HTTP/1.1', 'Host: x', 'Content-Length: 4', 'Transfer-Encoding: chunked']) + '0\r\n\r\nGET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n');
    },
  },
  {
    name: 'bad chunk size',
    async write(s) {
      s.write(head(['POST /v1/reports HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked']) + 'zz\r\n[]\r\n0\r\n\r\n');
    },
  },
  {
    name: 'two Content-Lengths',
    async write(s) {
      s.write(head(['POST /v1/reports HTTP/1.1', 'Host: x', 'Content-Length: 2', 'Content-Length: 20']) + '[]');
    },
  },
  {
    name: 'negative Content-Length',
    async write(s) {
      s.write(head(['POST /v1/reports HTTP/1.1', 'Host: x', 'Content-Length: -1']) + '[]');
    },
  },
  {
    name: 'header over the size limit',
    async write(s) {
      s.write(head(['POST /v1/reports HTTP/1.1', 'Host: x', `X-Big: ${'a'.repeat(40_000)}`, 'Content-Length: 2']) + '[]');
    },
  },
  {
    name: 'pipelined requests',
    async write(s) {
      const one = head(['POST /v1/reports HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 2']) + '[]';
      s.write(one + one + head(['GET /healthz HTTP/1.1', 'Host: x']));
    },
  },
  {
    name: 'bare LF line ends',
    async write(s) {
      s.write('POST /v1/reports HTTP/1.1\nHost: x\nContent-Length: 2\n\n[]');
    },
  },
  {
    name: 'obsolete header folding',
    async write(s) {
      s.write(head(['POST /v1/reports HTTP/1.1', 'Host: x', 'X-Fold: a', ' b', 'Content-Length: 2']) + '[]');
    },
  },
  {
    name: 'HTTP/1.0 body to the close',
    async write(s) {
      s.end('POST /v1/reports HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n\r\n[{"role":1}]');
    },
  },
  {
    name: 'garbage request line',
    async write(s, _open, rand) {
      s.write(Buffer.from(Array.from({ length: 200 }, () => Math.floor(rand() * 256))));
      s.write('\r\n\r\n');
    },
  },
  {
    name: 'Expect: 100-continue',
    async write(s) {
      s.write(head(['POST /v1/reports HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 2', 'Expect: 100-continue']));
      await sleep(50);
      s.write('[]');
    },
  },
  {
    name: 'client aborts mid-body',
    aborts: true,
    async write(s, _open, rand) {
      s.write(head(['POST /v1/reports HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 5000']) + '[{"role":"CLIENT",');
      await sleep(rand() * 300);
      s.destroy();
    },
  },
];

function framingExchange(port: number, c: FramingCase, rand: () => number, deadlineMs: number): Promise<FramingOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    let settled = false;
    const finish = (outcome: FramingOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'hang' }), deadlineMs);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      // A 100 Continue is not the answer.
      const statuses = [...received.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1])).filter((s) => s !== 100);
      if (statuses.length > 0) finish({ kind: 'answer', status: Math.max(...statuses) });
    });
    socket.on('error', () => {});
    socket.on('close', () => finish(c.aborts ? { kind: 'aborted' } : { kind: 'closed' }));
    socket.once('connect', () => {
      void c.write(socket, () => !settled && !socket.destroyed, rand).catch(() => {});
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------

export async function runFuzz(input: Partial<FuzzOptions> & Pick<FuzzOptions, 'label' | 'bodies'>): Promise<FuzzSummary> {
  const options: FuzzOptions = { ...FUZZ_DEFAULTS, ...input };
  const log = options.log ?? ((): void => {});
  const corpus = await loadCorpus({
    maxItemsPerRequest: options.maxItemsPerRequest,
    ...(options.corpusTooLarge ? { maxBodyBytes: options.maxBodyBytes } : {}),
  });
  const started = Date.now();
  const deadlineMs = options.requestTimeoutMs + options.marginMs;
  const summary: FuzzSummary = {
    label: options.label,
    seed: options.seed,
    corpus: corpus.source,
    durationMs: 0,
    bodies: 0,
    routes: {},
    kinds: {},
    meanMsByKind: {},
    bytes: 0,
    generationMs: 0,
    byStatus: {},
    fiveXx: 0,
    hangs: 0,
    closed: 0,
    samples: [],
    validItems: 0,
    storedValidItems: 0,
    neighboursLost: 0,
    unexpectedAnswers: 0,
    framing: { cases: 0, byOutcome: {}, fiveXx: 0, hangs: 0, samples: [] },
    sidecarErrorLogs: 0,
    errorLogSamples: [],
    quarantined: null,
    healthyAfter: false,
    exitCode: null,
    peakSidecarRssMiB: 0,
    sidecarCpuSeconds: null,
    keptAt: null,
  };
  const note = (list: string[], line: string): void => {
    if (list.length < 10) list.push(line.slice(0, 400));
  };

  const rss = new RssSampler();
  let stack: TwoOrgStack | null = null;
  let sidecar: StartedSidecar | null = null;
  let watch: LogWatch | null = null;
  const agent = new Agent({ connections: options.concurrency, keepAliveTimeout: 1000 });
  try {
    stack = await twoOrgStack(
      `soak-fuzz-${options.label}`,
      {
        PCM_INGEST_REQUEST_TIMEOUT_MS: String(options.requestTimeoutMs),
        PCM_INGEST_HEADERS_TIMEOUT_MS: String(options.headersTimeoutMs),
        PCM_INGEST_MAX_BODY_BYTES: String(options.maxBodyBytes),
        PCM_INGEST_MAX_ITEMS: String(options.maxItemsPerRequest),
        PCM_MAX_BATCH_DELAY_MS: '50',
        ...options.sidecarEnv,
      },
      () => ['--rate-limit', '1000000', '--pairing-delay-ms', String(24 * 60 * 60 * 1000)],
    );
    sidecar = await startSidecarProcess(stack.env, stack.args);
    const url = sidecar.url;
    const port = Number(new URL(url).port);
    rss.watch(sidecar.proc.child.pid);
    watch = new LogWatch(sidecar.proc);

    // Bodies: `concurrency` clients share one stream of corpus entries, built one at a time.
    let handedOut = 0;
    const timeByKind: Record<string, number> = {};
    const next = (): FuzzEntry | null => {
      if (handedOut >= options.bodies) return null;
      const t = performance.now();
      const entry = corpus.entryAt(options.seed, handedOut++);
      summary.generationMs += performance.now() - t;
      summary.bytes += typeof entry.body === 'string' ? Buffer.byteLength(entry.body) : entry.body.length;
      return entry;
    };
    const postOne = async (entry: FuzzEntry): Promise<void> => {
      bump(summary.routes, entry.route);
      bump(summary.kinds, entry.kind);
      const sent = performance.now();
      summary.validItems += entry.validItems;
      const describe = (): string =>
        `${entry.kind} ${entry.path} [${entry.contentType}] ${typeof entry.body === 'string' ? entry.body.slice(0, 160) : `${entry.body.length} bytes`}`;
      try {
        const res = await request(`${url}${entry.path}`, {
          method: 'POST',
          dispatcher: agent,
          headers: entry.contentType ? { 'content-type': entry.contentType } : {},
          body: entry.body,
          headersTimeout: deadlineMs,
          bodyTimeout: deadlineMs,
          signal: AbortSignal.timeout(deadlineMs),
        });
        const text = await res.body.text();
        bump(summary.byStatus, String(res.statusCode));
        if (res.statusCode >= 500) {
          summary.fiveXx++;
          note(summary.samples, `${res.statusCode} ${text.slice(0, 160)} ← ${describe()}`);
        }
        const ok = res.statusCode >= 200 && res.statusCode < 300;
        if ((entry.expect === 'refused' && ok) || (entry.expect === 'items' && !ok)) {
          summary.unexpectedAnswers++;
          note(summary.samples, `${res.statusCode} for a body expected ${entry.expect === 'refused' ? 'refused' : 'read item by item'} ← ${describe()}`);
        }
        if (ok) {
          let stored = 0;
          try {
            const counts = JSON.parse(text) as { accepted?: number; duplicates?: number };
            stored = (counts.accepted ?? 0) + (counts.duplicates ?? 0);
          } catch {
            // not JSON: nothing said stored
          }
          summary.storedValidItems += Math.min(stored, entry.validItems);
          if (stored < entry.validItems) {
            summary.neighboursLost++;
            note(summary.samples, `${res.statusCode} stored ${stored} of ${entry.validItems} valid items ← ${describe()}`);
          }
        } else if (entry.validItems > 0) {
          summary.neighboursLost++;
          note(summary.samples, `${res.statusCode} for a body with ${entry.validItems} valid items ← ${describe()}`);
        }
      } catch (err) {
        const code = errorCode(err);
        if (HANG_CODES.has(code)) {
          summary.hangs++;
          bump(summary.byStatus, 'hang');
          note(summary.samples, `hang (${code}) ← ${describe()}`);
        } else {
          summary.closed++;
          bump(summary.byStatus, 'closed');
          note(summary.samples, `closed (${code}) ← ${describe()}`);
        }
      }
      bump(timeByKind, entry.kind, performance.now() - sent);
      summary.bodies++;
      if (summary.bodies % 10_000 === 0) {
        log(`${options.label}: ${summary.bodies}/${options.bodies} bodies, 5xx ${summary.fiveXx}, hangs ${summary.hangs}, peak RSS ${rss.peakMiB.toFixed(0)} MiB`);
      }
    };
    const bodies = Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        for (let entry = next(); entry !== null; entry = next()) await postOne(entry);
      }),
    );

    // Framing cases beside them, their own clients.
    const rand = mulberry32(options.seed ^ 0x5eed);
    let framingLeft = options.framingCases;
    const framing = Promise.all(
      Array.from({ length: options.framingConcurrency }, async () => {
        while (framingLeft > 0) {
          framingLeft--;
          const c = FRAMING[Math.floor(rand() * FRAMING.length)] as FramingCase;
          const outcome = await framingExchange(port, c, rand, deadlineMs);
          summary.framing.cases++;
          const key = outcome.kind === 'answer' ? String(outcome.status) : outcome.kind;
          bump(summary.framing.byOutcome, key);
          if (outcome.kind === 'hang') {
            summary.framing.hangs++;
            note(summary.framing.samples, `hang ← ${c.name}`);
          }
          if (outcome.kind === 'answer' && outcome.status >= 500) {
            summary.framing.fiveXx++;
            note(summary.framing.samples, `${outcome.status} ← ${c.name}`);
          }
          if (outcome.kind === 'closed' && summary.framing.samples.length < 10) note(summary.framing.samples, `closed without an answer ← ${c.name}`);
        }
      }),
    );
    await Promise.all([bodies, framing]);
    for (const [kind, ms] of Object.entries(timeByKind)) summary.meanMsByKind[kind] = Math.round(ms / (summary.kinds[kind] ?? 1));

    const health = await request(`${url}/healthz`, { headersTimeout: deadlineMs, bodyTimeout: deadlineMs });
    await health.body.text();
    summary.healthyAfter = health.statusCode === 200;
    const status = await request(`${sidecar.adminUrl}/v1/status`, { headersTimeout: deadlineMs, bodyTimeout: deadlineMs, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const { spool } = (await status.body.json()) as { spool: Record<string, number> };
    summary.quarantined = spool.quarantined ?? null;
    rss.unwatch(sidecar.proc.child.pid);
    summary.sidecarCpuSeconds = cpuSecondsOf(sidecar.proc.child.pid);
    summary.exitCode = (await stopProc(sidecar.proc)).code;
    sidecar = null;
  } finally {
    watch?.stop();
    summary.sidecarErrorLogs = watch?.errors ?? 0;
    summary.errorLogSamples = watch?.samples ?? [];
    await agent.destroy();
    if (sidecar) await stopProc(sidecar.proc, 'SIGKILL');
    if (stack) {
      await stopProc(stack.emulator.proc);
      const clean =
        summary.exitCode === 0 && summary.fiveXx === 0 && summary.hangs === 0 && summary.framing.fiveXx === 0 && summary.framing.hangs === 0 && summary.sidecarErrorLogs === 0;
      if (clean && !options.keep) rmSync(dirname(stack.spoolPath), { recursive: true, force: true });
      else summary.keptAt = dirname(stack.spoolPath);
    }
    rss.stop();
  }
  summary.peakSidecarRssMiB = rss.peakMiB;
  summary.durationMs = Date.now() - started;
  return summary;
}
