import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigApart } from '../../src/config/load-thread.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError, errorMessage } from '../../src/errors.js';

/**
 * Issue #8: zod holds ~11 MiB of RSS in each isolate that loads it, and only reading the configuration needs it.
 * The running sidecar reads it in a thread that ends (config/load-thread.ts); these tests hold that the answer is
 * loadConfig's, errors included, and that nothing the running process or its worker threads import reaches zod.
 */

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
const dir = mkdtempSync(join(tmpdir(), 'pcm-load-apart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Relative module specifiers a source file imports at run time: static, re-exported and import('literal'); not `import type`. */
function importsOf(file: string): string[] {
  // Comments dropped: they quote code.
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)[^'";]*?from\s+'([^']+)'/gm)) out.push(m[1] as string);
  for (const m of text.matchAll(/^import\s+'([^']+)'/gm)) out.push(m[1] as string);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) out.push(m[1] as string);
  for (const m of text.matchAll(/new URL\('(\.\/[^']+-worker\.js)', import\.meta\.url\)/g)) out.push(m[1] as string);
  return out;
}

/** Every path from `entry` to a package named `target`, as chains of source files. */
function pathsTo(entry: string, target: string, skip: ReadonlySet<string>): string[][] {
  const found: string[][] = [];
  const seen = new Set<string>();
  const visit = (file: string, chain: string[]): void => {
    if (seen.has(file) || skip.has(relative(SRC, file))) return;
    seen.add(file);
    for (const spec of importsOf(file)) {
      if (spec === target || spec.startsWith(`${target}/`)) found.push([...chain, relative(SRC, file)]);
      else if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')), [...chain, relative(SRC, file)]);
    }
  };
  visit(entry, []);
  return found;
}

/** The ConfigError loadConfig throws for `file`, read on this thread. */
function thrownBy(file: string): ConfigError {
  try {
    loadConfig({ configFile: file });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`expected loadConfig to refuse ${file}`);
}

describe('the configuration read apart', () => {
  it('gives what loadConfig gives', async () => {
    const file = join(dir, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        pcm: { apiUrl: 'https://api.pcm.example', authUrl: 'https://auth.pcm.example' },
        spool: { path: 'data/spool.db' },
        organisations: [{ orgId: 'b7e37c9a-4b1d-4f3a-9f4e-0d2c1a5b6e7f', clientId: 'c', certFile: 'c.pem', keyFile: 'k.pem' }],
      }),
    );
    expect(await loadConfigApart({ configFile: file })).toEqual(loadConfig({ configFile: file, env: process.env }));
  });

  it('rejects with the ConfigError loadConfig throws, setting and message kept', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ pcm: { apiUrl: 'ftp://x', authUrl: 'https://a' }, organisations: [] }));
    const direct = thrownBy(file);
    const apart = await loadConfigApart({ configFile: file }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(apart).toBeInstanceOf(ConfigError);
    expect((apart as ConfigError).setting).toBe(direct.setting);
    expect((apart as ConfigError).message).toBe(direct.message);
  });

  it('keeps the cause of an unreadable or broken file, as errorMessage shows it', async () => {
    for (const [name, content] of [['broken.json', '{"pcm": '], ['missing.json', null]] as const) {
      const file = join(dir, name);
      if (content !== null) writeFileSync(file, content);
      const direct = thrownBy(file);
      const apart = (await loadConfigApart({ configFile: file }).catch((err: unknown) => err)) as ConfigError;
      expect(apart).toBeInstanceOf(ConfigError);
      expect(errorMessage(apart)).toBe(errorMessage(direct));
      expect(errorMessage(apart)).toMatch(content === null ? /ENOENT/ : /JSON/);
    }
  });

  it('keeps zod out of the running sidecar and its worker threads', () => {
    // The configuration thread loads it, and ends.
    const skip = new Set(['config/load-worker.ts']);
    const entries = ['commands/run.ts', 'sidecar.ts', ...execFileSync('find', [SRC, '-name', '*-worker.ts'], { encoding: 'utf8' }).split('\n').filter(Boolean).map((f) => relative(SRC, f))];
    for (const entry of entries) {
      if (skip.has(entry)) continue;
      expect(pathsTo(join(SRC, entry), 'zod', skip), entry).toEqual([]);
    }
  });

  it('finds zod where it is imported (the walk can fail)', () => {
    expect(pathsTo(join(SRC, 'config/load-worker.ts'), 'zod', new Set())).toContainEqual(['config/load-worker.ts', 'config/load.ts']);
  });
});
