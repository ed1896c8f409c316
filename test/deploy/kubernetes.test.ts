import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ENV_SETTINGS } from '../../src/config/load.js';
import { DEFAULTS } from '../../src/config/defaults.js';

/**
 * deploy/kubernetes agrees with the code and with itself. Two ways in:
 *   - the files as they are (YAML parsed here), which needs nothing installed: settings, ports, probes, shutdown
 *     budget, alerts, dashboard, runbooks;
 *   - what `kubectl kustomize` renders for each overlay (with and without the monitoring component), where the
 *     patches are merged: references, mounts, rollout, disruption budgets, topologies. Skipped, saying so, where
 *     kubectl is not installed.
 */

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ROOT = join(REPO, 'deploy/kubernetes');
const OVERLAYS = ['.', 'overlays/sidecar', 'overlays/agent', 'overlays/aggregator'];
/** Routes of the admin listener a probe or a scrape may use (src/admin/ serves them). */
const ADMIN_ROUTES = ['/healthz', '/readyz', '/metrics'];
/** Made by hand from the gateway's own configuration (deploy/kubernetes/README.md), not a manifest here. */
const EXTERNAL = new Set(['configmap/kong-declarative']);

interface Probe {
  httpGet?: { path: string; port: string | number };
  exec?: { command: string[] };
  tcpSocket?: { port: string | number };
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; optional?: boolean } };
}
interface Container {
  name: string;
  image?: string;
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: Probe };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { runAsNonRoot?: boolean; readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Volume {
  name: string;
  emptyDir?: { sizeLimit?: string };
  secret?: { secretName: string };
  configMap?: { name: string };
  persistentVolumeClaim?: { claimName: string };
}
interface PodSpec {
  enableServiceLinks?: boolean;
  terminationGracePeriodSeconds?: number;
  containers?: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
}
interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface K8sObject {
  kind: string;
  apiVersion: string;
  metadata: { name: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    replicas?: number;
    clusterIP?: string;
    serviceName?: string;
    strategy?: { type: string; rollingUpdate?: { maxUnavailable?: number | string; maxSurge?: number | string } };
    selector?: { matchLabels?: Record<string, string> };
    template?: { metadata?: { labels?: Record<string, string> }; spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string } }[];
    podMetricsEndpoints?: { port: string; path: string }[];
    groups?: { name: string; rules: Rule[] }[];
  };
  /** Where it came from: a file under deploy/kubernetes, or the overlay that rendered it. */
  source: string;
}

/** YAML 1.1, as Kubernetes reads manifests (0440 is octal, for one). */
function parseYaml(text: string, source: string): unknown[] {
  return parseAllDocuments(text, { version: '1.1' }).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as unknown;
  }).filter((d) => d !== null);
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry.name) ? [path] : [];
  });
}

function podSpecOf(o: K8sObject): PodSpec | null {
  return o.spec?.template?.spec ?? null;
}

function containersOf(spec: PodSpec): Container[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

/** The pcm-sidecar containers (sidecar, agent, aggregator), not the gateway beside them. */
function pcmContainers(spec: PodSpec): Container[] {
  return containersOf(spec).filter((c) => c.name.startsWith('pcm-'));
}

function envOf(c: Container, name: string): string | undefined {
  return c.env?.find((e) => e.name === name)?.value;
}

function isKustomization(o: { kind?: string }): boolean {
  return o.kind === 'Kustomization' || o.kind === 'Component';
}

// ---------------------------------------------------------------------------------------------------------------
// The files as they are.

const FILES = yamlFiles(ROOT);
const DOCS = FILES.flatMap((file) => parseYaml(readFileSync(file, 'utf8'), relative(ROOT, file)).map((doc) => ({ doc: doc as K8sObject, file: relative(ROOT, file) })));
const KUSTOMIZATIONS = DOCS.filter(({ doc }) => isKustomization(doc));
/** Every object of every file, patches included (partial objects) and the example Secrets. */
const OBJECTS: K8sObject[] = DOCS.filter(({ doc }) => !isKustomization(doc)).map(({ doc, file }) => ({ ...doc, source: file }));
const PATCH_FILES = new Set(
  KUSTOMIZATIONS.flatMap(({ doc, file }) => ((doc as { patches?: { path?: string }[] }).patches ?? []).flatMap((p) => (p.path ? [join(dirname(file), p.path)] : []))),
);
/** Whole objects: what a check of a complete workload reads (patches only add to them). */
const WHOLE = OBJECTS.filter((o) => !PATCH_FILES.has(o.source));
const RULES_FILE = 'monitoring/prometheusrule.yaml';
const DASHBOARD = JSON.parse(readFileSync(join(ROOT, 'monitoring/dashboard.json'), 'utf8')) as {
  uid: string;
  panels: { type: string; title: string; targets?: { expr: string }[] }[];
  templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
};

function workloads(objects: K8sObject[]): K8sObject[] {
  return objects.filter((o) => {
    const spec = podSpecOf(o);
    return spec !== null && pcmContainers(spec).length > 0 && (o.kind === 'Deployment' || o.kind === 'StatefulSet');
  });
}

/** The shutdown budget of a sidecar: its own PCM_SHUTDOWN_GRACE_MS, one of the ConfigMaps it reads, or the default. */
function shutdownGraceMs(c: Container, objects: K8sObject[]): number {
  const own = envOf(c, 'PCM_SHUTDOWN_GRACE_MS');
  if (own !== undefined) return Number(own);
  const maps = (c.envFrom ?? []).flatMap((from) => objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.name === from.configMapRef?.name));
  const fromMaps = maps.flatMap((m) => (m.data?.PCM_SHUTDOWN_GRACE_MS !== undefined ? [Number(m.data.PCM_SHUTDOWN_GRACE_MS)] : []));
  return fromMaps.length > 0 ? Math.max(...fromMaps) : DEFAULTS.shutdown.graceMs;
}

/** Seconds a preStop drain may wait: the last argument of the `node -e <script> <seconds>` hook. */
function drainSeconds(c: Container): number {
  const command = c.lifecycle?.preStop?.exec?.command;
  return command && command[0] === 'node' ? Number(command[command.length - 1]) : 0;
}

/** Checks that hold for the files and for every rendering alike. */
function checkSettingsNames(objects: K8sObject[]): void {
  const known = new Set([...Object.keys(ENV_SETTINGS), 'PCM_CONFIG']);
  const readMaps = new Set<string>();
  let count = 0;
  for (const o of objects) {
    const spec = podSpecOf(o);
    if (!spec) continue;
    for (const c of pcmContainers(spec)) {
      for (const e of c.env ?? []) {
        count++;
        expect(known, `${o.source} ${c.name}: ${e.name}`).toContain(e.name);
      }
      for (const from of c.envFrom ?? []) if (from.configMapRef) readMaps.add(from.configMapRef.name);
    }
    // No PCM_* variables from Service links: the sidecar refuses the ones it does not know.
    if (!PATCH_FILES.has(o.source)) expect(spec.enableServiceLinks, o.source).toBe(false);
  }
  for (const o of objects.filter((x) => x.kind === 'ConfigMap' && readMaps.has(x.metadata.name))) {
    for (const key of Object.keys(o.data ?? {})) {
      count++;
      expect(known, `${o.source} ConfigMap ${o.metadata.name}: ${key}`).toContain(key);
    }
  }
  expect(count).toBeGreaterThan(0);
}

function checkPortsAndProbes(objects: K8sObject[]): void {
  const found = workloads(objects);
  expect(found.length).toBeGreaterThan(0);
  for (const o of found) {
    for (const c of pcmContainers(podSpecOf(o) as PodSpec)) {
      const where = `${o.source} ${o.kind}/${o.metadata.name} ${c.name}`;
      const admin = c.ports?.find((p) => p.name === 'admin');
      expect(admin?.containerPort, `${where}: containerPort admin`).toBe(DEFAULTS.admin.port);
      expect(Number(envOf(c, 'PCM_ADMIN_PORT') ?? DEFAULTS.admin.port), `${where}: PCM_ADMIN_PORT`).toBe(DEFAULTS.admin.port);
      expect(envOf(c, 'PCM_ADMIN_HOST') ?? DEFAULTS.admin.host, `${where}: the kubelet and Prometheus come in on the pod IP`).toBe('0.0.0.0');
      const ingestPort = Number(envOf(c, 'PCM_INGEST_PORT') ?? DEFAULTS.ingest.port);
      expect(ingestPort, `${where}: PCM_INGEST_PORT`).toBe(DEFAULTS.ingest.port);
      const ingest = c.ports?.find((p) => p.name === 'ingest');
      if (ingest) expect(ingest.containerPort, `${where}: containerPort ingest`).toBe(ingestPort);
      // A gateway's sidecar listens on loopback only and publishes no ingest port.
      if (o.kind === 'Deployment') {
        expect(envOf(c, 'PCM_INGEST_HOST'), where).toBe('127.0.0.1');
        expect(ingest, where).toBeUndefined();
      }
      for (const kind of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
        const probe = c[kind];
        expect(probe?.httpGet, `${where}: ${kind} is an HTTP probe on the admin listener`).toBeDefined();
        const get = probe?.httpGet as { path: string; port: string | number };
        expect([admin?.name, DEFAULTS.admin.port], `${where}: ${kind} port`).toContain(get.port);
        expect(ADMIN_ROUTES, `${where}: ${kind} path`).toContain(get.path);
      }
      // README.md, "Readiness": /readyz is for alerts; as a probe it would take every gateway out over a reporting
      // problem while reports are still spooled.
      expect(c.readinessProbe?.httpGet?.path, `${where}: readiness probe`).toBe('/healthz');
    }
  }
}

function checkShutdownBudget(objects: K8sObject[]): void {
  for (const o of workloads(objects)) {
    const spec = podSpecOf(o) as PodSpec;
    for (const c of pcmContainers(spec)) {
      const needed = shutdownGraceMs(c, objects) / 1000 + drainSeconds(c);
      expect(spec.terminationGracePeriodSeconds ?? 30, `${o.source}: terminationGracePeriodSeconds vs PCM_SHUTDOWN_GRACE_MS + preStop drain (${needed} s)`).toBeGreaterThan(needed);
    }
  }
}

function checkSecurityAndResources(objects: K8sObject[]): void {
  for (const o of workloads(objects)) {
    for (const c of pcmContainers(podSpecOf(o) as PodSpec)) {
      const where = `${o.source} ${c.name}`;
      expect(c.securityContext?.runAsNonRoot, where).toBe(true);
      expect(c.securityContext?.readOnlyRootFilesystem, where).toBe(true);
      expect(c.securityContext?.allowPrivilegeEscalation, where).toBe(false);
      expect(c.securityContext?.capabilities?.drop, where).toContain('ALL');
      for (const r of ['cpu', 'memory']) {
        expect(c.resources?.requests?.[r], `${where}: requests.${r}`).toBeTruthy();
        expect(c.resources?.limits?.[r], `${where}: limits.${r}`).toBeTruthy();
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Metric names, runbooks.

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** The metric names a PromQL expression (or a Grafana label_values query) reads. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/label_values\((.*),\s*\w+\s*\)/g, '$1')
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  return [...bare.matchAll(/\b[a-zA-Z_][a-zA-Z0-9_]*\b(?!\s*\()/g)].map((m) => m[0]).filter((w) => !PROMQL_WORDS.has(w.toLowerCase()));
}

/** Backticked names in the first column of docs/metrics.md's table(s). */
function documentedMetrics(): Set<string> {
  const text = readFileSync(join(REPO, 'docs/metrics.md'), 'utf8');
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const first = /^\|([^|]*)\|/.exec(line)?.[1] ?? '';
    for (const m of first.matchAll(/`([a-zA-Z_:][a-zA-Z0-9_:]*)`/g)) names.add(m[1] as string);
  }
  return names;
}

async function nodeDefaultMetrics(): Promise<Set<string>> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
  registry.clear();
  return new Set(names);
}

/** GitHub's anchor of a Markdown heading. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

function alertRules(): Rule[] {
  const rules = WHOLE.filter((o) => o.kind === 'PrometheusRule');
  expect(rules.map((o) => o.source)).toEqual([RULES_FILE]);
  return rules.flatMap((o) => (o.spec?.groups ?? []).flatMap((g) => g.rules));
}

function dashboardQueries(): string[] {
  const panels = DASHBOARD.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
  const variables = DASHBOARD.templating.list.flatMap((v) => (v.type === 'query' && v.query !== undefined ? [typeof v.query === 'string' ? v.query : v.query.query] : []));
  return [...panels, ...variables];
}

describe('deploy/kubernetes as files (no kubectl needed)', () => {
  it('every file parses; every manifest is a resource or a patch of its kustomization, or an example', () => {
    expect(FILES.length).toBeGreaterThan(0);
    for (const o of OBJECTS) {
      expect(o.apiVersion, o.source).toBeTruthy();
      expect(o.metadata?.name, o.source).toBeTruthy();
    }
    const listed = new Set<string>();
    for (const { doc, file } of KUSTOMIZATIONS) {
      const k = doc as { resources?: string[]; patches?: { path?: string }[] };
      for (const entry of [...(k.resources ?? []), ...(k.patches ?? []).flatMap((p) => (p.path ? [p.path] : []))]) {
        const path = join(ROOT, dirname(file), entry);
        expect(existsSync(path), `${file}: ${entry}`).toBe(true);
        listed.add(relative(ROOT, path));
      }
    }
    for (const file of FILES.map((f) => relative(ROOT, f))) {
      if (/(^|\/)kustomization\.yaml$/.test(file) || file.endsWith('.example.yaml')) continue;
      expect(listed, `${file} is in no kustomization`).toContain(file);
    }
    expect(KUSTOMIZATIONS.map(({ file }) => file)).toEqual(expect.arrayContaining(['kustomization.yaml', ...OVERLAYS.slice(1).map((d) => `${d}/kustomization.yaml`), 'monitoring/kustomization.yaml']));
  });

  it('every PCM_* variable they set, and every one they show commented out, is a setting the sidecar knows', () => {
    checkSettingsNames(OBJECTS);
    // `# PCM_X: "..."` lines are settings to uncomment: a typo there becomes an exit 78 the day someone does.
    for (const file of FILES) {
      for (const m of readFileSync(file, 'utf8').matchAll(/^\s*#\s*(PCM_[A-Z0-9_]+):\s*"/gm)) {
        expect(Object.keys(ENV_SETTINGS), `${relative(ROOT, file)}: ${m[1]}`).toContain(m[1]);
      }
    }
  });

  it('ports and probes are those of the code: admin listener, /healthz, loopback ingest on gateways', () => {
    checkPortsAndProbes(WHOLE);
  });

  it('terminationGracePeriodSeconds outlasts PCM_SHUTDOWN_GRACE_MS plus the preStop drain', () => {
    checkShutdownBudget(WHOLE);
  });

  it('sidecars run non-root on a read-only root, without capabilities, with requests and limits', () => {
    checkSecurityAndResources(WHOLE);
  });

  it('the PodMonitor scrapes the admin port of every pod with a sidecar', () => {
    const monitors = WHOLE.filter((o) => o.kind === 'PodMonitor');
    expect(monitors).toHaveLength(1);
    const monitor = monitors[0] as K8sObject;
    expect(monitor.spec?.podMetricsEndpoints).toEqual([expect.objectContaining({ port: 'admin', path: '/metrics' })]);
    expect(ADMIN_ROUTES).toContain('/metrics');
    const selector = Object.entries(monitor.spec?.selector?.matchLabels ?? {});
    expect(selector.length).toBeGreaterThan(0);
    for (const o of workloads(WHOLE)) {
      const labels = o.spec?.template?.metadata?.labels ?? {};
      for (const [k, v] of selector) expect(labels[k], `${o.source}: pod label ${k}`).toBe(v);
    }
  });

  it('every metric the alerts and the dashboard read is documented in docs/metrics.md (Node defaults and up aside)', async () => {
    const documented = documentedMetrics();
    expect(documented.size, 'docs/metrics.md lists no metric').toBeGreaterThan(0);
    const node = await nodeDefaultMetrics();
    const known = (name: string): boolean => {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      return name === 'up' || documented.has(name) || documented.has(base) || node.has(name) || node.has(base);
    };
    const queries = [...alertRules().map((r) => r.expr), ...dashboardQueries()];
    const used = new Set(queries.flatMap(metricNames));
    expect(used.size).toBeGreaterThan(10);
    for (const name of used) expect(known(name), `${name} is not in docs/metrics.md`).toBe(true);
    // Each query reads the sidecars' job only, so another application's metrics of the same name cannot mix in.
    for (const q of queries) {
      for (const selector of q.matchAll(/\b([a-zA-Z_][a-zA-Z0-9_]*)\s*\{([^}]*)\}/g)) {
        expect(selector[2], `${selector[1]} in: ${q}`).toContain('job="pcm-sidecar"');
      }
    }
  });

  it('every alert has a severity and a runbook_url whose anchor is an entry of docs/runbooks.md, and every entry an alert', () => {
    const headings = readFileSync(join(REPO, 'docs/runbooks.md'), 'utf8').split('\n').flatMap((l) => (/^## /.test(l) ? [l.slice(3)] : []));
    const anchors = new Set(headings.map(slug));
    const alerts = alertRules();
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    for (const rule of alerts) {
      expect(rule.alert, rule.expr).toBeTruthy();
      expect(['critical', 'warning', 'info'], `${rule.alert}: severity`).toContain(rule.labels?.severity);
      const url = rule.annotations?.runbook_url ?? '';
      expect(url, `${rule.alert}: runbook_url`).toMatch(/^https:\/\/.+\/docs\/runbooks\.md#[a-z0-9-]+$/);
      expect(anchors, `${rule.alert}: ${url}`).toContain(url.slice(url.indexOf('#') + 1));
      expect(rule.annotations?.summary, `${rule.alert}: summary`).toBeTruthy();
    }
    const alertAnchors = new Set(alerts.map((r) => slug(r.alert as string)));
    for (const heading of headings.filter((h) => h !== 'Before you start')) expect(alertAnchors, `docs/runbooks.md: ${heading}`).toContain(slug(heading));
    // The alerts the brief of issue #11 names, by the metric each one reads.
    const exprs = alerts.map((r) => r.expr).join('\n');
    for (const name of ['pcm_sidecar_spool_oldest_pending_age_seconds', 'pcm_sidecar_sender_reports_total', 'pcm_sidecar_report_quality_findings_total', 'pcm_sidecar_token_refreshes_total', 'pcm_sidecar_token_expiry_seconds', 'pcm_sidecar_sla_at_risk', 'pcm_sidecar_sender_ready', 'up']) {
      expect(metricNames(exprs), name).toContain(name);
    }
  });

  it('the dashboard is a ConfigMap for Grafana, and has the panels operators look for', () => {
    const component = KUSTOMIZATIONS.find(({ file }) => file === 'monitoring/kustomization.yaml')?.doc as {
      kind: string;
      configMapGenerator?: { files?: string[]; options?: { labels?: Record<string, string> } }[];
    };
    expect(component.kind).toBe('Component');
    const generator = component.configMapGenerator?.find((g) => g.files?.some((f) => f.endsWith('dashboard.json')));
    expect(generator?.options?.labels?.grafana_dashboard).toBeDefined();
    expect(DASHBOARD.uid).toBe('pcm-sidecar');
    const queries = dashboardQueries().join('\n');
    for (const name of [
      'pcm_sidecar_ingest_items_total',
      'pcm_sidecar_ingest_request_duration_seconds_bucket',
      'pcm_sidecar_spool_reports',
      'pcm_sidecar_spool_oldest_pending_age_seconds',
      'pcm_sidecar_sender_reports_total',
      'pcm_sidecar_sender_batch_duration_seconds_bucket',
      'pcm_sidecar_token_expiry_seconds',
      'pcm_sidecar_sla_day_reports',
      'pcm_sidecar_sla_at_risk',
      'pcm_sidecar_report_quality_findings_total',
      'pcm_sidecar_spool_dead_letters',
      'process_resident_memory_bytes',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(metricNames(queries), name).toContain(name);
    }
    expect(queries).toContain('histogram_quantile(0.99, sum by (le, route) (rate(pcm_sidecar_ingest_request_duration_seconds_bucket');
    for (const p of DASHBOARD.panels.filter((x) => x.type !== 'row')) expect(p.targets?.length, p.title).toBeGreaterThan(0);
  });

  it("the gateway sidecar's preStop hook waits until /metrics shows nothing pending, and no longer than its budget", async () => {
    const gateway = WHOLE.find((o) => o.source === 'base/gateway.yaml' && o.kind === 'Deployment') as K8sObject;
    const sidecar = pcmContainers(podSpecOf(gateway) as PodSpec)[0] as Container;
    const command = sidecar.lifecycle?.preStop?.exec?.command as string[];
    expect(command[0]).toBe('node');
    expect(drainSeconds(sidecar)).toBeGreaterThan(0);

    // A stand-in for the admin listener: the spool's gauges as prom-client prints them.
    let pending = 3;
    let scrapes = 0;
    const server = createServer((req, res) => {
      scrapes++;
      const body = [
        '# HELP pcm_sidecar_spool_reports Reports waiting to be sent.',
        '# TYPE pcm_sidecar_spool_reports gauge',
        `pcm_sidecar_spool_reports{org="0b9e0e0e-0000-4000-8000-000000000001",stream="private",state="pending"} ${pending}`,
        `pcm_sidecar_spool_reports{org="0b9e0e0e-0000-4000-8000-000000000001",stream="private",state="inflight"} ${pending > 0 ? 1 : 0}`,
        'pcm_sidecar_spool_reports_other 7',
      ].join('\n');
      if (pending > 0 && pending !== Infinity) pending--;
      res.writeHead(req.url === '/metrics' ? 200 : 404, { 'content-type': 'text/plain' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const run = (budget: string): Promise<number | null> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [...command.slice(1, -1), budget], { env: { ...process.env, PCM_ADMIN_PORT: String(port) }, stdio: 'ignore' });
        const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
        child.on('exit', (code) => {
          clearTimeout(guard);
          resolve(code);
        });
      });
    try {
      expect(await run(command[command.length - 1] as string)).toBe(0);
      expect(scrapes).toBe(4); // 3, 2, 1 waiting, then 0
      pending = Infinity; // a PCM that never answers: the hook gives up after its budget
      expect(await run('1')).toBe(0);
      expect(scrapes).toBeGreaterThan(4);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    // Nothing listening (the sidecar is gone): nothing to wait for.
    expect(spawnSync(process.execPath, [...command.slice(1, -1), '30'], { env: { ...process.env, PCM_ADMIN_PORT: String(port) }, timeout: 60_000 }).status).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// What kubectl kustomize renders.

function kubectlVersion(): string | null {
  const result = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 10_000 });
  return result.status === 0 ? (result.stdout.split('\n').find((l) => l.includes('Kustomize')) ?? result.stdout.split('\n')[0] ?? 'kubectl') : null;
}

const kubectl = kubectlVersion();
const scratch = kubectl === null ? '' : mkdtempSync(join(tmpdir(), 'pcm-kustomize-'));
afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function render(dir: string): K8sObject[] {
  const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir}: ${result.stderr}`);
  return parseYaml(result.stdout, dir).map((doc) => ({ ...(doc as K8sObject), source: relative(ROOT, dir) || '.' }));
}

/** An overlay with the monitoring component, as an operator's own kustomization would add it. */
function renderWithMonitoring(overlay: string): K8sObject[] {
  const dir = mkdtempSync(join(scratch, 'with-monitoring-'));
  const rel = (p: string): string => relative(dir, join(ROOT, p));
  writeFileSync(join(dir, 'kustomization.yaml'), `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ${rel(overlay)}\ncomponents:\n  - ${rel('monitoring')}\n`);
  return render(dir);
}

const EXAMPLE_SECRETS = OBJECTS.filter((o) => o.kind === 'Secret' && o.source.endsWith('.example.yaml')).map((o) => `secret/${o.metadata.name}`);

function quantityBytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) throw new Error(`not a binary quantity: ${q}`);
  return Number(m[1]) * 1024 ** ['', 'Ki', 'Mi', 'Gi', 'Ti'].indexOf(m[2] ?? '');
}

describe(`deploy/kubernetes rendered by kubectl kustomize (${kubectl ?? 'skipped: kubectl is not installed'})`, () => {
  it.skipIf(kubectl === null).each(OVERLAYS)('%s renders, and agrees with the code and with itself', (overlay) => {
    const objects = render(join(ROOT, overlay));
    const defined = new Set([...objects.map((o) => `${o.kind.toLowerCase()}/${o.metadata.name}`), ...EXAMPLE_SECRETS]);
    checkSettingsNames(objects);
    checkPortsAndProbes(objects);
    checkShutdownBudget(objects);
    checkSecurityAndResources(objects);

    for (const o of workloads(objects)) {
      const spec = podSpecOf(o) as PodSpec;
      const where = `${overlay}: ${o.kind}/${o.metadata.name}`;
      // Every ConfigMap and Secret it uses is rendered, or is one of the documented Secrets to create.
      const used: string[] = [];
      for (const v of spec.volumes ?? []) {
        if (v.secret) used.push(`secret/${v.secret.secretName}`);
        if (v.configMap) used.push(`configmap/${v.configMap.name}`);
      }
      for (const c of containersOf(spec)) {
        for (const from of c.envFrom ?? []) if (from.configMapRef) used.push(`configmap/${from.configMapRef.name}`);
        for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef && !e.valueFrom.secretKeyRef.optional) used.push(`secret/${e.valueFrom.secretKeyRef.name}`);
      }
      for (const ref of used) if (!EXTERNAL.has(ref)) expect(defined, `${where}: ${ref}`).toContain(ref);

      // Every *_FILE and the spool path lie in a volume mounted in that container.
      for (const c of pcmContainers(spec)) {
        const mounts = (c.volumeMounts ?? []).map((m) => m.mountPath);
        for (const e of c.env ?? []) {
          if (!(e.name.endsWith('_FILE') || e.name === 'PCM_SPOOL_PATH') || e.value === undefined) continue;
          expect(mounts.some((m) => dirname(e.value as string) === m || dirname(e.value as string).startsWith(`${m}/`)), `${where} ${c.name} ${e.name}=${e.value}`).toBe(true);
        }
      }

      // Rollout and disruptions: two or more replicas, a PodDisruptionBudget over them.
      expect(o.spec?.replicas ?? 1, `${where}: replicas`).toBeGreaterThanOrEqual(2);
      const labels = o.spec?.template?.metadata?.labels ?? {};
      const pdb = objects.find((p) => p.kind === 'PodDisruptionBudget' && Object.entries(p.spec?.selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v));
      expect(pdb, `${where}: PodDisruptionBudget`).toBeDefined();
      const sidecar = pcmContainers(spec)[0] as Container;
      const spoolMount = sidecar.volumeMounts?.find((m) => m.mountPath === dirname(envOf(sidecar, 'PCM_SPOOL_PATH') ?? ''));
      expect(spoolMount, `${where}: the spool's mount`).toBeDefined();
      if (o.kind === 'Deployment') {
        // A spool per pod on an emptyDir: rolling updates without a gap are possible, and the spool is capped below
        // the volume's size so the ingest answers 503 before the kubelet evicts the pod.
        expect(o.spec?.strategy, where).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
        const volume = spec.volumes?.find((v) => v.name === spoolMount?.name);
        expect(volume?.emptyDir?.sizeLimit, `${where}: the spool's emptyDir sizeLimit`).toBeDefined();
        expect(Number(envOf(sidecar, 'PCM_SPOOL_MAX_BYTES')), `${where}: PCM_SPOOL_MAX_BYTES`).toBeLessThan(quantityBytes(volume?.emptyDir?.sizeLimit as string));
      } else {
        // A claim per replica (ReadWriteOnce), and a headless governing Service.
        expect((o.spec?.volumeClaimTemplates ?? []).map((t) => t.metadata.name), where).toContain(spoolMount?.name);
        const service = objects.find((s) => s.kind === 'Service' && s.metadata.name === o.spec?.serviceName);
        expect(service?.spec?.clusterIP, `${where}: serviceName ${o.spec?.serviceName}`).toBe('None');
      }
    }

    // What each topology holds.
    const env = new Map<string, string | undefined>();
    for (const o of objects) {
      if (o.kind === 'ConfigMap') for (const [k, v] of Object.entries(o.data ?? {})) env.set(k, v);
      const spec = podSpecOf(o);
      if (spec) for (const c of pcmContainers(spec)) for (const e of c.env ?? []) env.set(e.name, e.value);
    }
    if (overlay === 'overlays/agent') {
      expect(env.get('PCM_FORWARD_URL')).toMatch(/^https:\/\//);
      expect(env.has('PCM_FORWARD_TOKEN_FILE')).toBe(true);
      for (const name of ['PCM_API_URL', 'PCM_AUTH_URL', 'PCM_CERT_FILE', 'PCM_KEY_FILE', 'PCM_CLIENT_ID']) expect(env.has(name), name).toBe(false);
    } else if (overlay === 'overlays/aggregator') {
      expect(env.get('PCM_INGEST_HOST')).toBe('0.0.0.0');
      // Its replicas are the whole fleet that calls the PCM: the rate budget is shared among exactly them.
      const replicas = objects.find((o) => o.kind === 'StatefulSet')?.spec?.replicas;
      expect(env.get('PCM_FLEET_SIZE'), 'PCM_FLEET_SIZE = the StatefulSet replicas').toBe(String(replicas));
      for (const name of ['PCM_INGEST_TOKEN_FILE', 'PCM_INGEST_TLS_CERT_FILE', 'PCM_INGEST_TLS_KEY_FILE', 'PCM_INGEST_CLIENT_CA_FILE', 'PCM_CERT_FILE', 'PCM_API_URL']) {
        expect(env.has(name), name).toBe(true);
      }
    } else {
      for (const name of ['PCM_API_URL', 'PCM_AUTH_URL', 'PCM_CERT_FILE', 'PCM_KEY_FILE', 'PCM_CLIENT_ID', 'PCM_TOKEN_ID_PEPPER_FILE', 'PCM_ADMIN_TOKEN_FILE']) expect(env.has(name), name).toBe(true);
      expect(env.has('PCM_FORWARD_URL')).toBe(false);
    }
  });

  it.skipIf(kubectl === null)('deploy/kubernetes renders the sidecar overlay', () => {
    const strip = (objects: K8sObject[]): Omit<K8sObject, 'source'>[] => objects.map(({ source: _source, ...o }) => o);
    expect(strip(render(ROOT))).toEqual(strip(render(join(ROOT, 'overlays/sidecar'))));
  });

  it.skipIf(kubectl === null).each(OVERLAYS.slice(1))('%s with the monitoring component: the PodMonitor finds its pods and their admin port', (overlay) => {
    const objects = renderWithMonitoring(overlay);
    const monitor = objects.find((o) => o.kind === 'PodMonitor') as K8sObject;
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['PodMonitor', 'PrometheusRule', 'ConfigMap']));
    const dashboard = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard !== undefined);
    expect(JSON.parse(Object.values(dashboard?.data ?? {})[0] ?? '{}')).toEqual(DASHBOARD);
    const selector = Object.entries(monitor.spec?.selector?.matchLabels ?? {});
    const selected = workloads(objects).filter((o) => selector.every(([k, v]) => o.spec?.template?.metadata?.labels?.[k] === v));
    expect(selected.length, overlay).toBeGreaterThan(0);
    for (const o of selected) {
      const ports = containersOf(podSpecOf(o) as PodSpec).flatMap((c) => c.ports ?? []);
      expect(ports.map((p) => p.name)).toContain(monitor.spec?.podMetricsEndpoints?.[0]?.port);
    }
  });
});
