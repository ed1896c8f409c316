import { execFile, spawn } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { trackChild } from '../helpers/children.js';
import { eventually, postJson } from '../helpers/http.js';
import { CLIENT_ORG, tempDir } from '../helpers/pki.js';
import { validReport } from '../helpers/reports.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** The docs generators (npm run docs:config, docs:metrics): built, but not needed by the bin, so not packed. */
const GENERATORS = new Set(['config/reference.ts', 'metrics-doc.ts']);

/** Every .ts file under `dir`, relative to it. */
async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => relative(dir, join(e.parentPath, e.name)));
}

/**
 * The package as a user gets it (issue #11, item 6): `npm pack` (which builds dist/ afresh), the tarball installed in
 * an empty folder with `npm install` — better-sqlite3 compiles there when no prebuilt binary can be fetched, as in
 * the quick start — and the installed `pcm-sidecar` bin run from that folder.
 */
describe('the npm package', () => {
  it('packs what the bin needs and nothing else; installed from the tarball, npx pcm-sidecar runs', async () => {
    const dir = await tempDir('pack');
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { name: string; version: string };
    await run('npm', ['pack', '--pack-destination', dir], { cwd: REPO, timeout: 300_000 });
    const tarball = join(dir, `${pkg.name}-${pkg.version}.tgz`);

    // Exactly the compiled sources (the docs generators aside), the catalogue, README and package.json: a stale file
    // in dist/, a source map or a test would show here.
    const { stdout: listing } = await run('tar', ['-tzf', tarball]);
    const packed = listing.split('\n').filter((f) => f !== '' && !f.endsWith('/')).map((f) => f.replace(/^package\//, ''));
    const compiled = (await sources(join(REPO, 'src'))).filter((f) => !GENERATORS.has(f)).map((f) => `dist/${f.replace(/\.ts$/, '.js')}`);
    expect(packed.sort()).toEqual([...compiled, 'data/catalog/endpoints.json', 'README.md', 'package.json'].sort());
    for (const worker of ['dist/spool/writer-worker.js', 'dist/ingest/parse-worker.js', 'dist/admin/query-worker.js', 'dist/config/load-worker.js', 'dist/cli.js']) expect(packed).toContain(worker);

    const app = join(dir, 'app');
    await mkdir(app);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'pack-check', version: '1.0.0', private: true }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: app, timeout: 600_000 });

    const version = await run('npx', ['pcm-sidecar', '--version'], { cwd: app });
    expect(version.stdout.trim()).toBe(`pcm-sidecar ${pkg.version}`);

    // validate: the catalogue ships with the package; exit 0 for valid reports, 1 when one would be discarded.
    const good = join(app, 'good.json');
    const bad = join(app, 'bad.json');
    await writeFile(good, JSON.stringify([validReport(0), validReport(1)]));
    await writeFile(bad, JSON.stringify([validReport(2), { ...validReport(3), endpoint: '/open-banking/none/v1/x' }]));
    const valid = await run('npx', ['pcm-sidecar', 'validate', good], { cwd: app });
    expect(valid.stdout).toMatch(/2 items: 2 valid/);
    const invalid = await run('npx', ['pcm-sidecar', 'validate', bad], { cwd: app }).then(
      () => ({ code: 0, stdout: '' }),
      (err: { code: number; stdout: string }) => err,
    );
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toMatch(/1 invalid/);

    // run, from the installed copy: a body through a parse thread and the spool's writer thread (both workers are
    // files of their own in dist/), stored and answered 202. An agent, so no PCM is needed; its aggregator is absent.
    const tokenFile = join(app, 'forward-token');
    await writeFile(tokenFile, 'a-forward-token-of-some-length\n');
    const bin = join(app, 'node_modules', '.bin', 'pcm-sidecar');
    const child = spawn(bin, ['run'], {
      cwd: app,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
        HOME: process.env.HOME ?? '/tmp',
        PCM_ORG_ID: CLIENT_ORG,
        PCM_FORWARD_URL: 'http://127.0.0.1:9',
        PCM_FORWARD_TOKEN_FILE: tokenFile,
        PCM_SPOOL_PATH: join(app, 'spool.db'),
        PCM_INGEST_PORT: '0',
        PCM_ADMIN_PORT: '0',
        PCM_INGEST_PARSE_THREADS: '1',
        PCM_INGEST_PARSE_THREAD_MIN_BYTES: '0',
      },
    });
    trackChild(child, ['pcm-sidecar run', `(installed in ${app})`]);
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
    createInterface({ input: child.stderr }).on('line', (l) => lines.push(l));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const ingestUrl = await eventually(async () => {
        const line = lines.find((l) => l.includes('"ingestUrl"'));
        return line ? (JSON.parse(line) as { ingestUrl: string }).ingestUrl : undefined;
      }, 30_000);
      const answer = await postJson<{ accepted: number }>(`${ingestUrl}/v1/reports`, [validReport(4)]);
      expect(answer.status, lines.join('\n')).toBe(202);
      expect(answer.body.accepted).toBe(1);
      // Parsed on the thread, not on the event loop after a failed hand-over.
      expect(lines.join('\n')).not.toContain('a parse thread failed');
    } finally {
      child.kill('SIGTERM');
      expect(await exited, lines.join('\n')).toBe(0);
    }
  }, 900_000);
});
