import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Issue #8, security: TLS verification is never switched off in the code that ships (dist/, built by `npm test`'s
 * pretest). The emulator's report host takes no client certificate by design (the PCM's report API takes bearer
 * tokens), which is not the same as not verifying one.
 */

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? files(join(dir, e.name)) : Promise.resolve(e.name.endsWith('.js') ? [join(dir, e.name)] : []))));
  return nested.flat();
}

const FORBIDDEN: [RegExp, string][] = [
  [/rejectUnauthorized\s*:\s*(false|0|!1)/, 'rejectUnauthorized: false'],
  [/NODE_TLS_REJECT_UNAUTHORIZED/, 'NODE_TLS_REJECT_UNAUTHORIZED'],
  [/checkServerIdentity\s*:/, 'a checkServerIdentity override'],
  [/\binsecure(SkipVerify)?\s*:\s*true/, 'insecure: true'],
];

describe('TLS verification in the built code', () => {
  it('is never turned off, and the clients ask for it explicitly', async () => {
    const built = await files(DIST);
    expect(built.length).toBeGreaterThan(20);
    const found: string[] = [];
    for (const file of built) {
      const text = await readFile(file, 'utf8');
      for (const [pattern, what] of FORBIDDEN) if (pattern.test(text)) found.push(`${file.slice(DIST.length)}: ${what}`);
    }
    expect(found).toEqual([]);
    // The two clients that talk to the PCM say so in their own words.
    for (const client of ['sender/token.js', 'sender/report-client.js']) {
      expect(await readFile(join(DIST, client), 'utf8'), client).toMatch(/rejectUnauthorized:\s*true/);
    }
  });
});
