// Micro-benchmark of report validation (issue #9): CPU per 1,000 reports of JSON.parse (baseline), the sidecar's
// prepareReport, the zod-based oracle kept under test/oracle (when it can be loaded), and the emulator's own
// validator (src/emulator/validate.ts). Medians of ROUNDS rounds in one process. Not a test: nothing here asserts a time.
//
//   npm run build && node bench/validate.js [--rounds 7] [--bodies 1000] [--no-oracle]
//
// Bodies are bench/lib.js's `bodyFactory().pairs(50)` (100 reports each, CLIENT/SERVER alternating, all valid).
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH_DIR, WORK_DIR, bodyFactory, ensureDirs, machine, median, ORGS, sourceVersion } from './lib.js';
import { configSchema } from '../dist/config/schema.js';
import { reportRules, rulesInputOf } from '../dist/report/context.js';
import { loadCatalog } from '../dist/report/catalog.js';
import { prepareReport, withinSize } from '../dist/report/validate.js';
import { checkReport, loadAcceptedEndpoints } from '../dist/emulator/validate.js';
import { parseBody } from '../dist/ingest/body.js';
import { checkItems } from '../dist/ingest/check-items.js';
import { ingestRoutes } from '../dist/ingest/routes.js';
import { encodeGroup } from '../dist/spool/wire.js';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
};
const ROUNDS = Math.max(5, option('rounds', 7));
const BODIES = Math.max(10, option('bodies', 1000));
const WITH_ORACLE = !args.includes('--no-oracle');

/**
 * The oracle is TypeScript under test/oracle, importing src/. It is transpiled (types erased, nothing checked) into
 * bench/.work/oracle with its `src/` imports pointed at dist/, so this script stays plain ESM without a loader.
 */
async function loadOracle() {
  const root = join(BENCH_DIR, '..');
  const from = join(root, 'test', 'oracle');
  let files;
  try {
    files = readdirSync(from).filter((f) => f.endsWith('.ts'));
  } catch {
    return null;
  }
  const ts = createRequire(import.meta.url)('typescript');
  const to = join(WORK_DIR, 'oracle');
  mkdirSync(to, { recursive: true });
  const dist = relative(to, join(root, 'dist')).split('\\').join('/');
  for (const file of files) {
    const source = readFileSync(join(from, file), 'utf8');
    const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
    const js = outputText.replace(/from '(?:\.\.\/)+src\//g, `from '${dist}/`);
    writeFileSync(join(to, file.replace(/\.ts$/, '.js')), js);
  }
  return import(pathToFileURL(join(to, 'validate.js')).href);
}

/** Wall time and this process's CPU time (all its threads: GC and the compiler too), in ms. */
function time(fn) {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const out = fn();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const used = process.cpuUsage(cpu);
  return { ms, cpuMs: (used.user + used.system) / 1000, out };
}

const config = configSchema.parse({
  pcm: { apiUrl: 'https://x', authUrl: 'https://x' },
  organisations: ORGS.map((o) => ({ ...o, certFile: '/x', keyFile: '/y' })),
});
const catalog = loadCatalog(config.catalog.file);
/** As src/sidecar.ts passes it to the ingest server; withinSize measures the JSON text in bytes (making it flat). */
const MAX_REPORT_BYTES = config.sender.maxBatchBytes - 2;
const rules = reportRules(rulesInputOf(config, null), catalog);
const endpoints = loadAcceptedEndpoints();

const factory = bodyFactory();
const texts = Array.from({ length: BODIES }, () => factory.pairs(50));
const items = texts.flatMap((t) => JSON.parse(t));
// The same reports with the two roles of an interaction apart (all CLIENT reports, then all SERVER ones): a sidecar
// usually reports one side only, so it seldom sees one fapiInteractionId twice in a row.
const apart = [...items.filter((r) => r.role === 'CLIENT'), ...items.filter((r) => r.role === 'SERVER')];
// The same reports with one thing wrong each (a type, a format, a calendar date, an unlisted endpoint, an extra key,
// an enum, a null, an own __proto__ key): the refusal path, which a hostile storm takes.
const WRONG = [['statusCode', '200'], ['fapiInteractionId', 'x'], ['timestamp', '2026-02-30T00:00:00.000Z'], ['endpoint', '/nope'], ['extra', 1], ['httpMethod', 'HEAD'], ['processTimespan', null], ['__proto__', {}]];
const wrong = items.map((report, i) => {
  const [key, value] = WRONG[i % WRONG.length];
  const copy = { ...report };
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
});
const perThousand = (ms) => (ms / items.length) * 1000;
const buffers = texts.map((t) => Buffer.from(t));
const toReport = ingestRoutes(rules.build)['/v1/reports'];
const noQuery = new URLSearchParams();
const where = { source: '127.0.0.1 POST /v1/reports', route: '/v1/reports', maxReportBytes: MAX_REPORT_BYTES };

const oracle = WITH_ORACLE ? await loadOracle() : null;

const cases = [
  [
    'JSON.parse (baseline)',
    () => {
      let n = 0;
      for (const t of texts) n += JSON.parse(t).length;
      return n;
    },
  ],
  [
    'prepareReport',
    () => {
      const context = rules.validation();
      let ok = 0;
      for (const item of items) if (prepareReport(item, context).ok) ok++;
      return ok;
    },
  ],
  [
    'prepareReport, roles apart',
    () => {
      const context = rules.validation();
      let ok = 0;
      for (const item of apart) if (prepareReport(item, context).ok) ok++;
      return ok;
    },
  ],
  [
    'prepareReport + withinSize (as ingest does)',
    () => {
      const context = rules.validation();
      let ok = 0;
      for (const item of items) if (withinSize(prepareReport(item, context), MAX_REPORT_BYTES).ok) ok++;
      return ok;
    },
  ],
];
cases.push([
  // What the ingest server's event loop does with a 100-report body before the writer thread: parse, build and check
  // every item, and the hand-over's encoding (one body per group here; the server groups what arrives together).
  'ingest event loop per body: parseBody + checkItems + encodeGroup',
  () => {
    const context = rules.validation();
    let ok = 0;
    for (const body of buffers) {
      const checked = checkItems(parseBody(body, 'json'), toReport, context, noQuery, where);
      ok += encodeGroup([{ reports: checked.reports, rejected: checked.rejected }]).laneIndex.length;
    }
    return ok;
  },
]);
if (oracle) {
  cases.push(
    [
      'oracle (zod, test/oracle)',
      () => {
        const context = rules.validation();
        let ok = 0;
        for (const item of items) if (oracle.prepareReport(item, context).ok) ok++;
        return ok;
      },
    ],
    [
      'oracle + withinSize',
      () => {
        const context = rules.validation();
        let ok = 0;
        for (const item of items) if (withinSize(oracle.prepareReport(item, context), MAX_REPORT_BYTES).ok) ok++;
        return ok;
      },
    ],
  );
}
cases.push([
  'emulator checkReport (src/emulator)',
  () => {
    const context = { now: Date.now(), endpoints };
    let ok = 0;
    for (const item of items) if (checkReport(item, context).discard === null) ok++;
    return ok;
  },
]);

// The refusal path, measured after the rest: its objects (other hidden classes) would otherwise make the inline caches
// of the valid path polymorphic, which the brief's measurement of valid reports alone does not see.
const refusals = [
  [
    'prepareReport, one thing wrong in each',
    () => {
      const context = rules.validation();
      let ok = 0;
      for (const item of wrong) if (prepareReport(item, context).ok) ok++;
      return ok;
    },
  ],
];
if (oracle) {
  refusals.push([
    'oracle, one thing wrong in each',
    () => {
      const context = rules.validation();
      let ok = 0;
      for (const item of wrong) if (oracle.prepareReport(item, context).ok) ok++;
      return ok;
    },
  ]);
}

// Each phase: a warm-up round of each case (JIT, inline caches), then ROUNDS rounds, the cases interleaved.
const samples = new Map();
const cpuSamples = new Map();
const counts = new Map();
for (const phase of [cases, refusals]) {
  for (const [name, fn] of phase) {
    samples.set(name, []);
    cpuSamples.set(name, []);
    counts.set(name, fn());
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fn] of phase) {
      const { ms, cpuMs, out } = time(fn);
      samples.get(name).push(perThousand(ms));
      cpuSamples.get(name).push(perThousand(cpuMs));
      if (out !== counts.get(name)) throw new Error(`${name}: ${out} ok in round ${round}, ${counts.get(name)} in the warm-up`);
    }
  }
}

ensureDirs();
const m = machine();
const version = sourceVersion();
console.log(`validate bench: ${items.length} reports (${BODIES} bodies × 100), ${ROUNDS} rounds; ${m.cpuModel}, ${m.nproc} cores, Node ${m.node}; commit ${version.commit}${version.srcModified ? ' (src modified)' : ''}`);
console.log('| case | wall ms per 1,000 reports (median) | min | max | CPU ms per 1,000 (median) | ok reports |');
console.log('|---|---|---|---|---|---|');
for (const [name] of [...cases, ...refusals]) {
  const v = samples.get(name);
  const f = (x) => x.toFixed(2);
  console.log(`| ${name} | ${f(median(v))} | ${f(Math.min(...v))} | ${f(Math.max(...v))} | ${f(median(cpuSamples.get(name)))} | ${counts.get(name)} |`);
}
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`load average at the end: ${load} (other processes on the machine inflate wall times more than CPU times)`);
if (!oracle && WITH_ORACLE) console.log('(oracle not found under test/oracle)');
