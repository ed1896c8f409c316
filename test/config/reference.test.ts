import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ENV_SETTINGS } from '../../src/config/load.js';
import { configurationReference, settingDocs } from '../../src/config/reference.js';

/** docs/configuration.md is the schema's own account of itself: regenerated, it is the same file. */
describe('configuration reference (docs/configuration.md)', () => {
  it('is what `npm run docs:config` writes from the schema now', async () => {
    const file = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(file, 'docs/configuration.md is out of date: run `npm run docs:config`').toBe(configurationReference());
  });

  it('has a row for every PCM_* variable, with its config path', async () => {
    const file = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const rows = new Set([...file.matchAll(/^\| `(PCM_[A-Z_]+)` \| `([^`]+)` \|/gm)].map((m) => `${m[1]}=${m[2]}`));
    // The variables fill the first entry of a list, which the reference writes as `[]`.
    const known = Object.entries(ENV_SETTINGS).map(([name, path]) => `${name}=${path.replace(/\.0(?=\.|$)/g, '[]')}`);
    expect([...rows].sort()).toEqual(known.sort());
  });

  it('lists every setting without a variable as file only, each with a meaning, a type and a default', async () => {
    const file = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const settings = settingDocs().flatMap((s) => s.settings);
    const mapped = new Set(Object.values(ENV_SETTINGS).map((path) => path.replace(/\.0(?=\.|$)/g, '[]')));
    const fileOnly = settings.filter((s) => !mapped.has(s.path)).map((s) => s.path);
    expect(fileOnly).toEqual(expect.arrayContaining(['rules.overrides', 'alerts.subscriptions[].headers']));
    for (const path of fileOnly) expect(file).toContain(`| *file only* | \`${path}\` |`);
    for (const s of settings) {
      expect(s.meaning, `${s.path} has no description in src/config/schema.ts`).not.toBe('');
      expect(s.type).not.toBe('');
      expect(s.default).not.toBe('');
    }
    // What a reader cannot guess from the type: required-ness and the defaults computed at run time.
    const byPath = new Map(settings.map((s) => [s.path, s]));
    expect(byPath.get('pcm.apiUrl')?.default).toBe('— (required unless forwarding)');
    expect(byPath.get('organisations[].orgId')?.default).toBe('— (required)');
    expect(byPath.get('rate.limit')?.default).toContain('0.48');
    expect(byPath.get('ingest.partialStatus')?.type).toBe('`200` | `202` | `207`');
    expect(byPath.get('sender.maxBatchSize')?.type).toBe('integer 1–5000');
    expect(byPath.get('rules.maxAgeMs')?.default).toBe('`604800000` (7 days)');
  });
});
