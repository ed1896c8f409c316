import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ENV_SETTINGS } from '../../src/config/load.js';

/**
 * The Kubernetes manifests in deploy/kubernetes parse, and agree with the sidecar and with one another. There is no
 * YAML parser among the dependencies, so kubectl reads them (`annotate --local` needs no cluster) and prints JSON.
 * Skipped, saying so, where kubectl is not installed.
 */

const ROOT = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));
/** Made by hand from the gateway's own configuration (deploy/kubernetes/README.md), not a manifest here. */
const EXTERNAL = new Set(['configmap/kong-declarative']);

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; optional?: boolean }; configMapKeyRef?: { name: string; optional?: boolean } };
}
interface Container {
  name: string;
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  enableServiceLinks?: boolean;
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; secret?: { secretName: string }; configMap?: { name: string }; persistentVolumeClaim?: { claimName: string } }[];
}
interface K8sObject {
  kind: string;
  apiVersion: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: {
    clusterIP?: string;
    serviceName?: string;
    template?: { spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string } }[];
  };
  file: string;
}

function kubectlVersion(): string | null {
  const result = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 10_000 });
  return result.status === 0 ? result.stdout.split('\n')[0] ?? 'kubectl' : null;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry.name) ? [path] : [];
  });
}

/** Every object of one file, as kubectl reads it (several pretty-printed JSON documents, one after another). */
function objectsOf(file: string): K8sObject[] {
  const result = spawnSync('kubectl', ['annotate', '--local', '-f', file, 'pcm-sidecar.test/parsed=1', '-o', 'json'], { encoding: 'utf8', timeout: 30_000 });
  if (result.status !== 0) throw new Error(`kubectl cannot read ${relative(ROOT, file)}: ${result.stderr}`);
  return result.stdout
    .split(/^\}\n/m)
    .filter((part) => part.trim() !== '')
    .map((part) => ({ ...(JSON.parse(`${part}}`) as Omit<K8sObject, 'file'>), file: relative(ROOT, file) }));
}

function podSpecOf(o: K8sObject): PodSpec | null {
  return o.spec?.template?.spec ?? null;
}

function containersOf(spec: PodSpec): Container[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

const kubectl = kubectlVersion();

describe.skipIf(kubectl === null)(`deploy/kubernetes manifests (${kubectl ?? 'skipped: kubectl is not installed'})`, () => {
  const files = kubectl === null ? [] : yamlFiles(ROOT);
  const objects = files.flatMap(objectsOf);
  const defined = new Set(objects.map((o) => `${o.kind.toLowerCase()}/${o.metadata.name}`));
  const workloads = objects.filter((o) => podSpecOf(o) !== null);

  it('every file parses into named objects, the two topologies included', () => {
    expect(files.length).toBeGreaterThan(0);
    for (const o of objects) {
      expect(o.apiVersion, o.file).toBeTruthy();
      expect(o.metadata.name, o.file).toBeTruthy();
    }
    const kinds = (dir: string): string[] => objects.filter((o) => o.file.startsWith(`${dir}/`)).map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds('aggregator')).toEqual(expect.arrayContaining(['StatefulSet/pcm-aggregator', 'Service/pcm-aggregator', 'Service/pcm-aggregator-headless']));
    expect(kinds('agent')).toEqual(expect.arrayContaining(['StatefulSet/api-gateway', 'ConfigMap/pcm-agent']));
  });

  it('every PCM_* variable they set is a setting the sidecar knows (it refuses the others)', () => {
    const names: string[] = [];
    for (const o of objects) {
      if (o.kind === 'ConfigMap') names.push(...Object.keys(o.data ?? {}).filter((k) => k.startsWith('PCM_')));
      const spec = podSpecOf(o);
      if (spec) for (const c of containersOf(spec)) names.push(...(c.env ?? []).map((e) => e.name).filter((n) => n.startsWith('PCM_')));
    }
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(Object.keys(ENV_SETTINGS), name).toContain(name);
    // And no pod gets PCM_* variables from Service links.
    for (const o of workloads) expect(podSpecOf(o)?.enableServiceLinks, o.file).toBe(false);
  });

  it('every ConfigMap and Secret a workload uses is defined among them', () => {
    for (const o of workloads) {
      const spec = podSpecOf(o) as PodSpec;
      const used: string[] = [];
      for (const v of spec.volumes ?? []) {
        if (v.secret) used.push(`secret/${v.secret.secretName}`);
        if (v.configMap) used.push(`configmap/${v.configMap.name}`);
      }
      for (const c of containersOf(spec)) {
        for (const from of c.envFrom ?? []) if (from.configMapRef) used.push(`configmap/${from.configMapRef.name}`);
        for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef && !e.valueFrom.secretKeyRef.optional) used.push(`secret/${e.valueFrom.secretKeyRef.name}`);
      }
      for (const ref of used) if (!EXTERNAL.has(ref)) expect(defined, `${o.file}: ${ref}`).toContain(ref);
    }
  });

  it('every *_FILE and the spool path point into a volume mounted in that container', () => {
    for (const o of workloads) {
      for (const c of containersOf(podSpecOf(o) as PodSpec)) {
        const mounts = (c.volumeMounts ?? []).map((m) => m.mountPath);
        for (const e of c.env ?? []) {
          if (!e.name.startsWith('PCM_') || !(e.name.endsWith('_FILE') || e.name === 'PCM_SPOOL_PATH') || e.value === undefined) continue;
          expect(mounts.some((m) => dirname(e.value as string).startsWith(m)), `${o.file} ${c.name} ${e.name}=${e.value}`).toBe(true);
        }
      }
    }
  });

  it('each StatefulSet has a headless governing Service and keeps its spool on a claim per replica', () => {
    const statefulSets = objects.filter((o) => o.kind === 'StatefulSet');
    expect(statefulSets.length).toBeGreaterThanOrEqual(2);
    for (const set of statefulSets) {
      const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === set.spec?.serviceName);
      expect(service?.spec?.clusterIP, `${set.file}: serviceName ${set.spec?.serviceName}`).toBe('None');
      const claims = (set.spec?.volumeClaimTemplates ?? []).map((t) => t.metadata.name);
      const sidecar = containersOf(podSpecOf(set) as PodSpec).find((c) => c.env?.some((e) => e.name === 'PCM_SPOOL_PATH'));
      const spoolMount = sidecar?.volumeMounts?.find((m) => m.mountPath === dirname(sidecar.env?.find((e) => e.name === 'PCM_SPOOL_PATH')?.value ?? ''));
      expect(claims, set.file).toContain(spoolMount?.name);
    }
  });

  it('the agent holds no organisation certificate nor PCM URL; the aggregator takes agents only with token and client CA', () => {
    const env = (dir: string): Map<string, string | undefined> => {
      const out = new Map<string, string | undefined>();
      for (const o of objects.filter((x) => x.file.startsWith(`${dir}/`))) {
        for (const [k, v] of Object.entries(o.data ?? {})) out.set(k, v);
        const spec = podSpecOf(o);
        if (spec) for (const c of containersOf(spec)) for (const e of c.env ?? []) out.set(e.name, e.value);
      }
      return out;
    };
    const agent = env('agent');
    expect(agent.get('PCM_FORWARD_URL')).toMatch(/^https:\/\//);
    expect(agent.has('PCM_FORWARD_TOKEN_FILE')).toBe(true);
    for (const name of ['PCM_API_URL', 'PCM_AUTH_URL', 'PCM_CERT_FILE', 'PCM_KEY_FILE', 'PCM_CLIENT_ID']) expect(agent.has(name), name).toBe(false);
    expect(agent.get('PCM_INGEST_HOST')).toBe('127.0.0.1');
    const aggregator = env('aggregator');
    expect(aggregator.get('PCM_INGEST_HOST')).toBe('0.0.0.0');
    for (const name of ['PCM_INGEST_TOKEN_FILE', 'PCM_INGEST_TLS_CERT_FILE', 'PCM_INGEST_TLS_KEY_FILE', 'PCM_INGEST_CLIENT_CA_FILE', 'PCM_CERT_FILE', 'PCM_API_URL']) {
      expect(aggregator.has(name), name).toBe(true);
    }
  });
});
