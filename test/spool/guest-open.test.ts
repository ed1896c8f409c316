import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Spool } from '../../src/spool/spool.js';
import { tempDir } from '../helpers/pki.js';

/**
 * Only the spool's owner moves an unreadable file aside and starts anew: a guest beside a running sidecar (a replay
 * from the admin API or the CLI opens as a guest) fails instead, leaving the file where it is.
 */
describe('opening an unreadable spool file', () => {
  it('a guest fails and leaves the file; the owner moves it aside', async () => {
    const dir = await tempDir('guest-open');
    const path = join(dir, 'spool.db');
    writeFileSync(path, 'this is not a database, and it is long enough to have a header of sixteen bytes');
    expect(() => new Spool({ path, guest: true })).toThrow();
    expect(readdirSync(dir)).toEqual(['spool.db']);

    const owner = new Spool({ path });
    try {
      expect(owner.movedAside).not.toBeNull();
      expect(existsSync(owner.movedAside as string)).toBe(true);
    } finally {
      await owner.close();
    }
  });
});
