import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import type { PcmEmulator } from '../../src/emulator/emulator.js';
import { createLogger } from '../../src/log.js';
import { metricsReference } from '../../src/metrics-doc.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { eventually, postJson } from '../helpers/http.js';
import { parseExposition, scrape, type ScrapedFamily } from '../helpers/metrics.js';
import { tempDir, testPki } from '../helpers/pki.js';
import { validReport } from '../helpers/reports.js';
import { bothOrganisations, startInProcessEmulator } from '../helpers/stack.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { adminSection } from '../helpers/admin.js';

/**
 * docs/metrics.md is the metrics reference: (b) it is what the generator (src/metrics-doc.ts) writes from the
 * registry now, and (a) a running sidecar — both test organisations, the emulator as its PCM, reconciliation and a
 * webhook subscription on — serves exactly its metrics, with its types, help and label names, and nothing else but
 * Node's default metrics.
 */

const DOC = join(import.meta.dirname, '../../docs/metrics.md');

interface Documented {
  name: string;
  type: string;
  labels: string[];
  help: string;
}

/** The table rows of docs/metrics.md, the Node.js defaults' group row left out. */
function documented(text: string): Documented[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('| `pcm_sidecar_'))
    .map((line) => {
      const cells = line.slice(2, -2).split(/ (?<!\\)\| /);
      expect(cells).toHaveLength(4);
      const [name, type, labels, help] = cells as [string, string, string, string];
      return {
        name: name.replace(/`/g, ''),
        type,
        labels: labels === '' ? [] : labels.split(', ').map((l) => l.replace(/`/g, '')),
        help: help.replace(/\\\|/g, '|'),
      };
    });
}

/** The label names of a family's samples, a histogram bucket's `le` aside. */
function labelSets(family: ScrapedFamily): string[] {
  return [...new Set(family.samples.map((s) => Object.keys(s.labels).filter((l) => !(l === 'le' && s.name.endsWith('_bucket'))).sort().join(',')))];
}

describe('the metrics reference', () => {
  it('docs/metrics.md is what `npm run docs:metrics` writes from the registry now', () => {
    expect(readFileSync(DOC, 'utf8')).toBe(metricsReference());
  });

  describe('a running sidecar serves exactly the documented metrics', () => {
    let emulator: PcmEmulator;
    let sidecar: RunningSidecar;
    let hook: WebhookReceiver;

    beforeAll(async () => {
      const dir = await tempDir('metrics-reference');
      const pki = await testPki(dir);
      emulator = await startInProcessEmulator(pki);
      hook = await WebhookReceiver.start();
      const config = configSchema.parse({
        ingest: { port: 0 },
        admin: adminSection(dir),
        spool: { path: join(dir, 'spool.db') },
        pcm: { apiUrl: emulator.url, authUrl: emulator.authUrl, caFile: pki.caCert },
        ...bothOrganisations(pki),
        sender: { maxBatchDelayMs: 10, retryInitialDelayMs: 20, retryMaxDelayMs: 500 },
        rate: { fleetSize: 1 },
        reconcile: { share: 0.5, delayMs: 100, flushMs: 50 },
        alerts: { aggregateMs: 0, subscriptions: [{ id: 'quality', events: ['QUALITY.FINDINGS'], url: hook.url }] },
      });
      sidecar = await startSidecar(config, createLogger('silent'));
    });

    afterAll(async () => {
      await sidecar?.stop();
      await emulator?.stop();
      await hook?.close();
    });

    it('every documented metric with its type, help and label names; nothing undocumented but process_* and nodejs_*', async () => {
      // Reports for both organisations' lanes, one repaired (role in lower case), one with a quality finding (a
      // CLIENT report without tokenId), and one item refused (quarantined).
      const finding = { ...validReport(2), additionalInfo: { consentId: 'urn:bank:6096c7f6-53a0-4c53-bc95-9c8d48b9a6cf' } };
      const items = [validReport(0), validReport(1), { ...validReport(4), role: 'client' }, finding, { role: 'NEITHER' }];
      const answer = await postJson<{ accepted: number }>(`${sidecar.ingestUrl}/v1/reports`, items);
      expect(answer.status).toBe(207);
      expect(answer.body.accepted).toBe(4);
      await eventually(async () => (sidecar.spool.counts().accepted >= 4 ? true : undefined), 30_000, 50);
      await eventually(async () => (hook.received.length > 0 ? true : undefined), 30_000, 50);

      const docs = documented(readFileSync(DOC, 'utf8'));
      expect(docs.length).toBeGreaterThan(30);
      const families = parseExposition(await scrape(sidecar));
      for (const doc of docs) {
        const family = families.get(doc.name);
        expect(family, `${doc.name} is served`).toBeDefined();
        expect({ name: doc.name, type: family!.type, help: family!.help }).toEqual({ name: doc.name, type: doc.type, help: doc.help });
        expect(family!.samples.length, `${doc.name} has samples`).toBeGreaterThan(0);
        expect(labelSets(family!), `${doc.name}'s labels`).toEqual([[...doc.labels].sort().join(',')]);
      }
      const names = new Set(docs.map((d) => d.name));
      const undocumented = [...families.keys()].filter((name) => !names.has(name) && !/^(process|nodejs)_/.test(name));
      expect(undocumented).toEqual([]);
      // Node's defaults are there, under their standard names.
      for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
        expect(families.has(name), name).toBe(true);
      }

      // A few values that say the series measure what they name.
      const sample = (name: string, labels: Record<string, string>): number | undefined =>
        [...families.values()].flatMap((f) => f.samples).find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
      expect(sample('pcm_sidecar_build_info', { node_version: process.version })).toBe(1);
      expect(sample('pcm_sidecar_ingest_request_duration_seconds_count', { route: '/v1/reports', status_code: '207' })).toBe(1);
      expect(sample('pcm_sidecar_ingest_received_bytes_total', { route: '/v1/reports' })).toBe(Buffer.byteLength(JSON.stringify(items)));
      expect(sample('pcm_sidecar_sender_reports_total', { stream: 'private', outcome: 'accepted' })).toBeGreaterThan(0);
      expect(sample('pcm_sidecar_sender_requests_total', { stream: 'private', status_code: '200' })).toBeGreaterThan(0);
      expect(sample('pcm_sidecar_spool_file_size_bytes', {})).toBeGreaterThan(0);
      expect(sample('pcm_sidecar_spool_quarantine_items', {})).toBe(1);
    });
  });
});
