import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatorStats, StoredReport } from '../../src/emulator/emulator.js';
import type { PkiFiles } from '../../src/pki/certs.js';
import { tokenIdOf } from '../../src/report/token-id.js';
import { eventually, getJson, postJson } from '../helpers/http.js';
import { trackChild } from '../helpers/children.js';
import { CLIENT_ORG, SERVER_ORG, tempDir, testPki } from '../helpers/pki.js';
import { stopProc } from '../helpers/processes.js';
import { startSidecarProcess, twoOrgStack, type Started, type StartedEmulator } from '../helpers/stack.js';

/**
 * Debian's nginx, configured from the shipped deploy/gateways/nginx files (nginx.conf with its paths, hosts and
 * ports replaced; pcm-log-format.conf as it is), carries real calls: our application → egress server (CLIENT, mTLS
 * with CLIENT_ORG's transport certificate) → ingress server (SERVER, ssl_verify_client on) → a small backend. Both
 * servers write pcm.log; its lines are then posted exactly as Fluent Bit's http output (format json) sends them, and
 * the unfiltered log once as Vector's NDJSON, to a sidecar process in front of an emulator process.
 */

const DEPLOY = fileURLToPath(new URL('../../deploy/gateways/nginx/', import.meta.url));
const CLIENT_SSID = '5f3c8a0e-2b7d-4c19-9e6a-0d4b1f2a3c57';

/** The nginx binary: on PATH, or where Debian installs it (/usr/sbin is not on every user's PATH). */
function findNginx(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, 'nginx'), constants.X_OK);
      return join(dir, 'nginx');
    } catch {
      // not here
    }
  }
  return null;
}

const NGINX = findNginx();
if (NGINX === null) {
  console.warn('test/e2e/nginx.test.ts SKIPPED: no `nginx` binary on PATH or in /usr/sbin (.ci/run installs Debian\'s nginx; locally: apt-get install nginx)');
}

async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** `text` with `from` replaced, failing loudly when the shipped file no longer has it. */
function replaced(text: string, from: string | RegExp, to: string, what: string): string {
  const out = text.replace(typeof from === 'string' ? new RegExp(from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g') : from, to);
  if (out === text) throw new Error(`the shipped nginx file no longer has ${what} (${String(from)})`);
  return out;
}

interface Ports {
  ingress: number;
  egress: number;
  backend: number;
}

/** deploy/gateways/nginx/nginx.conf made to run here: local paths, ports and certificates, and an unfiltered log. */
async function nginxConf(dir: string, pki: PkiFiles, ports: Ports): Promise<string> {
  let formats = await readFile(join(DEPLOY, 'pcm-log-format.conf'), 'utf8');
  // The site-specific part of the format file: which organisation our ingress serves.
  formats = replaced(formats, /(map \$host \$pcm_org_id \{\s*default\s+)""/, `$1"${SERVER_ORG}"`, 'the $pcm_org_id map');
  await writeFile(join(dir, 'pcm-log-format.conf'), formats);

  const client = pki.clients[CLIENT_ORG]!;
  let conf = await readFile(join(DEPLOY, 'nginx.conf'), 'utf8');
  conf = replaced(conf, /^user .*;$/m, '', 'a user line');
  conf = replaced(conf, 'worker_processes auto;', 'worker_processes 1;', 'worker_processes');
  conf = replaced(conf, 'pid /run/nginx.pid;', `pid ${dir}/nginx.pid;`, 'the pid file');
  conf = replaced(conf, 'include /etc/nginx/mime.types;', '', 'the mime.types include');
  conf = replaced(conf, 'include /etc/nginx/pcm-log-format.conf;', `include ${dir}/pcm-log-format.conf;`, 'the format include');
  conf = replaced(conf, '/var/log/nginx/', `${dir}/logs/`, 'the log paths');
  // Beside each PCM log, the same lines without if=$pcm_loggable: a gateway that does not filter (the Vector pass).
  conf = replaced(conf, /(access_log \S+pcm\.log (pcm_server|pcm_client) if=\$pcm_loggable;)/g, `$1\n        access_log ${dir}/logs/all.log $2;`, 'the PCM access_log lines');
  conf = replaced(conf, /http \{\n/, `http {\n${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${dir}/tmp/${t};\n`).join('')}`, 'the http block');
  conf = replaced(conf, 'listen 443 ssl;', `listen 127.0.0.1:${ports.ingress} ssl;`, 'the ingress listen');
  conf = replaced(conf, 'listen 10.0.0.5:8080;', `listen 127.0.0.1:${ports.egress};`, 'the egress listen');
  conf = replaced(conf, 'http://accounts-api.core.internal:8080/', `http://127.0.0.1:${ports.backend}/`, 'the backend');
  // The test CA's server certificate names localhost (nginx checks DNS names only).
  conf = replaced(conf, 'proxy_pass https://api.banco-servidor.com.br;', `proxy_pass https://127.0.0.1:${ports.ingress};\n            proxy_ssl_name localhost;`, 'the egress proxy_pass');
  conf = replaced(conf, '/etc/nginx/tls/server.crt', pki.serverCert, 'the server certificate');
  conf = replaced(conf, '/etc/nginx/tls/server.key', pki.serverKey, 'the server key');
  conf = replaced(conf, '/etc/nginx/tls/open-finance-ca-bundle.pem', pki.caCert, 'the CA bundle');
  conf = replaced(conf, '/etc/nginx/tls/transport.crt', client.cert, 'the transport certificate');
  conf = replaced(conf, '/etc/nginx/tls/transport.key', client.key, 'the transport key');
  expect(conf).not.toMatch(/\/etc\/nginx\/|\/var\/log\/|core\.internal|proxy_pass https:\/\/api\./);
  const file = join(dir, 'nginx.conf');
  await writeFile(file, conf);
  return file;
}

interface Call {
  path: string;
  headers: Record<string, string>;
  /** What the PCM log line(s) of this call should become. */
  expect: 'both' | 'server-only' | 'refused' | 'health';
}

const token = (i: number): string => `eyJhbGciOiJQUzI1NiJ9.eyJjbGllbnQiOiJ0cHAtJHtpJX0ifQ.sig-${i % 7}`;

/** 300 calls: 289 ordinary ones, 4 where the server generates the id, 2 without any id, 2 without counterparty, 1 unlisted, 2 health checks. */
function calls(): Call[] {
  const list: Call[] = [];
  const app = (i: number, extra: Record<string, string> = {}, omit: string[] = []): Record<string, string> => {
    const headers: Record<string, string> = {
      'x-fapi-interaction-id': randomUUID(),
      authorization: `Bearer ${token(i)}`,
      'x-pcm-org-id': CLIENT_ORG,
      'x-pcm-counterparty-org-id': SERVER_ORG,
      'x-pcm-client-ssid': CLIENT_SSID,
      'x-pcm-additional-info': JSON.stringify({ consentId: `urn:bancoservidor:C${i}` }),
      ...extra,
    };
    for (const name of omit) delete headers[name];
    return headers;
  };
  for (let i = 0; i < 289; i++) {
    const path = i % 10 === 0 ? '/opbk/open-banking/accounts/v2/accounts' : `/opbk/open-banking/accounts/v2/accounts/acc-${i}/balances`;
    list.push({ path, headers: app(i, i % 25 === 0 ? { 'x-pcm-correlation-id': `jornada-${i}` } : {}), expect: 'both' });
  }
  for (let i = 0; i < 4; i++) {
    list.push({ path: `/opbk/open-banking/accounts/v2/accounts/gen-${i}/balances`, headers: app(i, { 'x-test-generate-fapi': 'yes' }, ['x-fapi-interaction-id']), expect: 'both' });
  }
  for (let i = 0; i < 2; i++) {
    list.push({ path: `/opbk/open-banking/accounts/v2/accounts/nofapi-${i}/balances`, headers: app(i, {}, ['x-fapi-interaction-id']), expect: 'refused' });
  }
  for (let i = 0; i < 2; i++) {
    list.push({ path: `/opbk/open-banking/accounts/v2/accounts/nocp-${i}/balances`, headers: app(i, {}, ['x-pcm-counterparty-org-id']), expect: 'server-only' });
  }
  list.push({ path: '/opbk/open-banking/unknown/v1/things', headers: app(0), expect: 'refused' });
  list.push({ path: '/healthz', headers: {}, expect: 'health' }); // the egress server's
  list.push({ path: '/healthz', headers: {}, expect: 'health' }); // the ingress server's (with a client certificate)
  return list;
}

type Line = Record<string, unknown>;

describe.skipIf(NGINX === null)("Debian's nginx → its JSON access log → sidecar (/v1/gateways/nginx) → emulator", () => {
  const nginx = NGINX as string;
  let dir: string;
  let pki: PkiFiles;
  let ports: Ports;
  let backend: Server;
  let nginxProc: ChildProcess | null = null;
  let stack: { emulator: StartedEmulator; ca: Buffer; spoolPath: string };
  let sidecar: Started | null = null;
  let pepper: Buffer;
  const seenByBackend: IncomingHttpHeaders[] = [];
  const planned = calls();
  let lines: Line[] = [];
  let allLines: Line[] = [];

  beforeAll(async () => {
    dir = await tempDir('nginx');
    // nginx's workers (nobody, when the master runs as root) need to reach the temp and log directories.
    await chmod(dir, 0o755);
    await mkdir(join(dir, 'logs'));
    await mkdir(join(dir, 'tmp'));
    pki = await testPki(dir);

    // Our backend behind the ingress: answers Open Finance-like paths with the request's x-fapi-interaction-id, or
    // a generated one when asked (the server-generated case), or none.
    backend = createServer((req, res) => {
      seenByBackend.push(req.headers);
      const given = req.headers['x-fapi-interaction-id'];
      const id = typeof given === 'string' ? given : req.headers['x-test-generate-fapi'] === 'yes' ? randomUUID() : undefined;
      res.writeHead(200, { 'content-type': 'application/json', ...(id ? { 'x-fapi-interaction-id': id } : {}) });
      res.end(JSON.stringify({ data: { path: req.url }, meta: {} }));
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    ports = { backend: (backend.address() as AddressInfo).port, ingress: await freePort(), egress: await freePort() };

    // The file's bytes are the pepper (32 base64 characters here).
    pepper = Buffer.from(randomBytes(24).toString('base64'));
    const pepperFile = join(dir, 'pepper');
    await writeFile(pepperFile, pepper, { mode: 0o600 });
    const two = await twoOrgStack('nginx-e2e', { PCM_TOKEN_ID_PEPPER_FILE: pepperFile });
    stack = two;
    // partialStatus comes from the URL, as Fluent Bit posts it; the skip paths are the sidecar's defaults.
    sidecar = await startSidecarProcess(two.env, two.args);
  }, 60_000);

  afterAll(async () => {
    // nginx's workers outlive a killed master: end its whole process group (it was started as the group's leader).
    if (nginxProc?.pid !== undefined && nginxProc.exitCode === null && nginxProc.signalCode === null) process.kill(-nginxProc.pid, 'SIGKILL');
    if (sidecar) await stopProc(sidecar.proc, 'SIGKILL');
    if (stack?.emulator) await stopProc(stack.emulator.proc);
    await new Promise<void>((resolve) => (backend ? backend.close(() => resolve()) : resolve()));
  });

  it('the shipped nginx.conf, with local paths and ports, passes `nginx -t`', async () => {
    const conf = await nginxConf(dir, pki, ports);
    const args = ['-t', '-e', join(dir, 'logs', 'error.log'), '-p', dir, '-c', conf];
    const check = spawn(nginx, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(check, [nginx, ...args]);
    let output = '';
    check.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => check.once('exit', resolve));
    expect(output).toContain('test is successful');
    expect(code).toBe(0);
  });

  it('nginx carries 300 calls egress → ingress → backend and writes one PCM line per Open Finance call, none for health checks', async () => {
    const conf = join(dir, 'nginx.conf');
    const args = ['-e', join(dir, 'logs', 'error.log'), '-p', dir, '-c', conf, '-g', 'daemon off;'];
    // Its own process group: the master and its worker, which the run's teardown checks are all gone.
    const proc = spawn(nginx, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    trackChild(proc, [nginx, ...args], { group: true });
    nginxProc = proc;
    let output = '';
    proc.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    await eventually(async () => {
      if (proc.exitCode !== null) throw new Error(`nginx exited: ${output}${await readFile(join(dir, 'logs', 'error.log'), 'utf8').catch(() => '')}`);
      return (await listening(ports.egress)) && (await listening(ports.ingress)) ? true : undefined;
    }, 15_000, 50);

    const egress = new Agent({ connections: 8 });
    const ingress = new Agent({ connect: { ca: await readFile(pki.caCert), cert: await readFile(pki.clients[CLIENT_ORG]!.cert), key: await readFile(pki.clients[CLIENT_ORG]!.key) } });
    try {
      let next = 0;
      let healthChecks = 0;
      const statuses: number[] = [];
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < planned.length) {
            const call = planned[next++] as Call;
            // The second health check goes to the ingress (mutual TLS, as a load balancer with a certificate would).
            const viaIngress = call.expect === 'health' && healthChecks++ === 1;
            const url = viaIngress ? `https://127.0.0.1:${ports.ingress}${call.path}` : `http://127.0.0.1:${ports.egress}${call.path}`;
            const res = await request(url, { headers: call.headers, dispatcher: viaIngress ? ingress : egress });
            await res.body.text();
            statuses.push(res.statusCode);
          }
        }),
      );
      expect(statuses).toHaveLength(300);
      expect(statuses.every((s) => s === 200)).toBe(true);
    } finally {
      await egress.close();
      await ingress.close();
    }
    proc.kill('SIGQUIT'); // graceful: the worker finishes, the master waits for it, the logs are complete
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    expect(proc.exitCode ?? proc.signalCode).not.toBeNull();

    // The egress removed the x-pcm-* headers before the call left; Authorization went on.
    const proxied = seenByBackend.filter((h) => typeof h['x-pcm-org-id'] === 'string' || typeof h['x-pcm-additional-info'] === 'string');
    expect(proxied).toHaveLength(0);
    expect(seenByBackend.filter((h) => typeof h.authorization === 'string')).toHaveLength(298);

    const parse = (text: string): Line[] => text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Line);
    lines = parse(await readFile(join(dir, 'logs', 'pcm.log'), 'utf8'));
    allLines = parse(await readFile(join(dir, 'logs', 'all.log'), 'utf8'));
    // 298 Open Finance calls, each through both servers; the 2 health checks only in the unfiltered log.
    expect(lines).toHaveLength(596);
    expect(lines.filter((l) => l.pcm_role === 'CLIENT')).toHaveLength(298);
    expect(lines.filter((l) => l.pcm_role === 'SERVER')).toHaveLength(298);
    expect(lines.some((l) => l.request_uri === '/healthz')).toBe(false);
    expect(allLines).toHaveLength(598);
    expect(allLines.filter((l) => l.request_uri === '/healthz')).toHaveLength(2);
    // As nginx writes them: strings, seconds, the verified caller's subject.
    const server = lines.find((l) => l.pcm_role === 'SERVER') as Line;
    expect(server.msec).toMatch(/^\d{10}\.\d{3}$/);
    expect(server.request_time).toMatch(/^\d+\.\d{3}$/);
    expect(server.ssl_client_verify).toBe('SUCCESS');
    expect(server.ssl_client_s_dn).toContain(`OU=${CLIENT_ORG}`);
    const client = lines.find((l) => l.pcm_role === 'CLIENT') as Line;
    expect(client.upstream_url).toMatch(new RegExp(`^https://127\\.0\\.0\\.1:${ports.ingress}/opbk/open-banking/`));
    expect(client.upstream_header_time).toMatch(/^\d+\.\d{3}$/);
  }, 120_000);

  const quarantine = (): { route: string; item: string; problems: string }[] => {
    const db = new Database(stack.spoolPath, { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT route, item, problems FROM quarantine ORDER BY id').all() as { route: string; item: string; problems: string }[];
    } finally {
      db.close();
    }
  };

  it('posted as Fluent Bit sends them (JSON arrays, each record + "date"): 202 with partialStatus=202, refused lines in quarantine, every report ACCEPTED and paired', async () => {
    expect(lines).toHaveLength(596);
    const url = `${sidecar!.url}/v1/gateways/nginx?partialStatus=202`;
    let accepted = 0;
    let rejected = 0;
    for (let i = 0; i < lines.length; i += 128) {
      // flb_pack_msgpack_to_json_format: the date key (json_date_key, default "date") first, as a double of epoch seconds.
      const records = lines.slice(i, i + 128).map((line) => ({ date: Date.now() / 1000 + 0.000001, ...line }));
      const answer = await postJson<{ accepted: number; duplicates: number; rejected?: number }>(url, records, { 'user-agent': 'Fluent-Bit' });
      expect(answer.status, JSON.stringify(answer.body)).toBe(202);
      accepted += answer.body.accepted;
      rejected += answer.body.rejected ?? 0;
    }
    // CLIENT: 289 + 4 server-generated ids; SERVER: those and the 2 whose CLIENT line had no counterparty.
    expect(accepted).toBe(588);
    expect(rejected).toBe(8);

    const refused = quarantine();
    expect(refused).toHaveLength(8);
    expect(refused.every((r) => r.route === '/v1/gateways/nginx')).toBe(true);
    const fields = refused.map((r) => (JSON.parse(r.problems) as { field: string }[]).map((p) => p.field).join(','));
    expect(fields.filter((f) => f.includes('http_x_fapi_interaction_id'))).toHaveLength(4);
    expect(fields.filter((f) => f.includes('pcm_counterparty_org_id'))).toHaveLength(2);
    expect(fields.filter((f) => f === 'url')).toHaveLength(2); // the unlisted endpoint, both sides
    // The bearer tokens nginx logged never reach the quarantine.
    for (const r of refused) expect(r.item).not.toContain('eyJhbGciOiJQUzI1NiJ9');

    const stats = await eventually(async () => {
      const { body } = await getJson<EmulatorStats>(`${stack.emulator.url}/emulator/stats`, stack.ca);
      return (body.reports.ACCEPTED ?? 0) >= 588 ? body : undefined;
    }, 60_000, 200);
    expect(stats.reports).toEqual({ ACCEPTED: 588 });
    // Reconciled once the emulator's pairing window closed: every call both sides reported is PAIRED (the same
    // fapiInteractionId, orgs, status, method and endpoint on both), the 2 without a CLIENT report are UNPAIRED.
    const reconciled = await eventually(async () => {
      const { body } = await getJson<EmulatorStats>(`${stack.emulator.url}/emulator/stats`, stack.ca);
      return (body.statuses.ACCEPTED ?? 0) === 0 ? body.statuses : undefined;
    }, 30_000, 200);
    expect(reconciled).toEqual({ PAIRED: 586, UNPAIRED: 2 });

    const { body } = await getJson<{ data: StoredReport[] }>(`${stack.emulator.url}/emulator/reports?_limit=1000`, stack.ca);
    expect(body.data).toHaveLength(588);
    const testStart = Date.now() - 10 * 60_000;
    for (const stored of body.data) {
      const report = stored.report as Line;
      // Seconds → ms and end − duration: a unit slip would put the call in 1970 or in the year 57 000.
      const at = Date.parse(report.timestamp as string);
      expect(at).toBeGreaterThan(testStart);
      expect(at).toBeLessThan(Date.now() + 60_000);
      expect(Number.isInteger(report.processTimespan) && (report.processTimespan as number) >= 1).toBe(true);
      if (report.role === 'CLIENT') {
        expect(report).toMatchObject({ clientOrgId: CLIENT_ORG, serverOrgId: SERVER_ORG, clientSSId: CLIENT_SSID, endpointUriPrefix: `https://127.0.0.1:${ports.ingress}/opbk` });
        const info = report.additionalInfo as Line;
        expect(info.consentId).toMatch(/^urn:bancoservidor:C\d+$/);
        // tokenId computed by the sidecar from $http_authorization with the pepper; the token itself is gone.
        const tokens = Array.from({ length: 7 }, (_, i) => tokenIdOf(token(i), pepper));
        expect(tokens).toContain(info.tokenId);
      } else {
        expect(report).toMatchObject({ role: 'SERVER', clientOrgId: CLIENT_ORG, serverOrgId: SERVER_ORG });
      }
    }
    expect(JSON.stringify(body.data)).not.toContain('eyJhbGciOiJQUzI1NiJ9');
    expect(body.data.filter((r) => (r.report as Line).correlationId !== undefined)).toHaveLength(12);
  }, 120_000);

  it('the unfiltered log once as Vector sends it (NDJSON): 202, everything a duplicate, the health checks skipped and not quarantined', async () => {
    expect(allLines).toHaveLength(598);
    const ndjson = allLines.map((line) => JSON.stringify(line)).join('\n') + '\n';
    const answer = await postJson<{ accepted: number; duplicates: number; rejected?: number; skipped?: number }>(
      `${sidecar!.url}/v1/gateways/nginx?partialStatus=202`,
      ndjson,
      { 'content-type': 'application/x-ndjson' },
    );
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    expect(answer.body).toMatchObject({ accepted: 0, duplicates: 588, rejected: 8, skipped: 2 });
    // The same 8 refused lines again (the quarantine may keep a repeat as one row with a count); no health check.
    const refused = quarantine();
    expect(refused.length).toBeGreaterThanOrEqual(8);
    expect(refused.length).toBeLessThanOrEqual(16);
    expect(refused.some((r) => r.item.includes('/healthz'))).toBe(false);
  }, 60_000);
});
