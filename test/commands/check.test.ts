import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, testPki, type PkiFiles } from '../helpers/pki.js';
import { startCli, stopProc } from '../helpers/processes.js';
import { sidecarEnv, startEmulatorProcess, type StartedEmulator } from '../helpers/stack.js';

/** `pcm-sidecar --version` and `pcm-sidecar run --check [--token]` (issue #11, CLI and configuration). */

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  const proc = startCli(args, env);
  const { code } = await proc.exited;
  return { code, out: proc.lines.join('\n') };
}

describe('pcm-sidecar --version', () => {
  it('prints the package version', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const answer = await cli([flag]);
      expect(answer.code).toBe(0);
      expect(answer.out.trim()).toBe(`pcm-sidecar ${version}`);
    }
  });
});

describe('pcm-sidecar usage errors', () => {
  it('exits 64 (EX_USAGE) for an unknown command, an unknown option and an unexpected argument', async () => {
    for (const args of [['nope'], ['constructor'], ['run', '--nope'], ['run', 'extra'], ['catalog', 'extra']]) {
      expect((await cli(args)).code, args.join(' ')).toBe(64);
    }
  });
});

describe('pcm-sidecar run --check', () => {
  let dir: string;
  let pki: PkiFiles;
  let emulator: StartedEmulator;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await tempDir('check');
    pki = await testPki(dir);
    emulator = await startEmulatorProcess(pki);
    env = sidecarEnv(pki, emulator, join(dir, 'spool.db'));
  });
  afterAll(async () => stopProc(emulator.proc));

  it('passes a usable configuration without starting anything, and gets a token with --token', async () => {
    const plain = await cli(['run', '--check'], env);
    expect(plain.code).toBe(0);
    expect(plain.out).toContain('settings: ok');
    expect(plain.out).toMatch(/endpoint catalogue: ok: version /);
    expect(plain.out).toMatch(/certificate and key: ok: readable, and the key matches the certificate/);
    expect(plain.out).not.toContain('token from');
    const withToken = await cli(['run', '--check', '--token'], env);
    expect(withToken.code).toBe(0);
    expect(withToken.out).toMatch(/token from https:\/\/127\.0\.0\.1:\d+: ok: obtained, expires in \d+ s/);
  });

  it('names an unusable certificate or key (66), a token endpoint that gives none (69), invalid settings (78)', async () => {
    const noKey = await cli(['run', '--check'], { ...env, PCM_KEY_FILE: join(dir, 'missing-key.pem') });
    expect(noKey.code).toBe(66);
    expect(noKey.out).toMatch(/certificate and key: PROBLEM: .*PCM_KEY_FILE/);
    const wrongKey = await cli(['run', '--check'], { ...env, PCM_KEY_FILE: pki.serverKey });
    expect(wrongKey.code).toBe(66);
    expect(wrongKey.out).toMatch(/not a usable certificate and key pair/);
    const noToken = await cli(['run', '--check', '--token'], { ...env, PCM_AUTH_URL: 'https://127.0.0.1:9', PCM_CONNECT_TIMEOUT_MS: '2000', PCM_TOKEN_TIMEOUT_MS: '2000' });
    expect(noToken.code).toBe(69);
    expect(noToken.out).toMatch(/token from https:\/\/127\.0\.0\.1:9: PROBLEM: /);
    const invalid = await cli(['run', '--check'], { ...env, PCM_RETRY_MAX_DELAY_MS: 'soon' });
    expect(invalid.code).toBe(78);
    expect(invalid.out).toContain('PCM_RETRY_MAX_DELAY_MS');
  });
});
