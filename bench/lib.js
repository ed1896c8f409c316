// Shared helpers for the benchmark scripts in bench/. Plain ESM; imports only from ../dist and node_modules.
import { randomUUID } from 'node:crypto';
import { execFileSync, fork } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_CLIENT_ORG, DEMO_SERVER_ORG, examplePair } from '../dist/demo.js';
import { generatePki } from '../dist/pki/certs.js';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const WORK_DIR = join(BENCH_DIR, '.work');
export const LOG_DIR = join(WORK_DIR, 'logs');

export const ORGS = [
  { orgId: DEMO_CLIENT_ORG, clientId: 'bench-client-software-statement' },
  { orgId: DEMO_SERVER_ORG, clientId: 'bench-server-software-statement' },
];

// ---------------------------------------------------------------------------------------------------------------
// Report bodies. Every report gets a fresh fapiInteractionId, so the sidecar never answers "duplicate".
// A template is the JSON text of a report split at a marker UUID; filling it is one string concatenation.

const MARKER = '00000000-0000-4000-8000-00000000beef';

function templates(now = Date.now()) {
  const [client, server] = examplePair(now, MARKER);
  return [JSON.stringify(client).split(MARKER), JSON.stringify(server).split(MARKER)];
}

/** A factory of bodies: `single()` is one report (CLIENT and SERVER alternately), `pairs(n)` an array of n pairs. */
export function bodyFactory(now = Date.now()) {
  const [client, server] = templates(now);
  const fill = (parts, id) => parts.join(id);
  let flip = 0;
  return {
    single() {
      flip ^= 1;
      return fill(flip ? client : server, randomUUID());
    },
    /** `[CLIENT, SERVER, CLIENT, SERVER, …]`, `pairCount` interactions, 2 × pairCount reports. */
    pairs(pairCount) {
      const parts = new Array(pairCount * 2);
      for (let i = 0; i < pairCount; i++) {
        const id = randomUUID();
        parts[2 * i] = fill(client, id);
        parts[2 * i + 1] = fill(server, id);
      }
      return `[${parts.join(',')}]`;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Environment

export function ensureDirs() {
  mkdirSync(WORK_DIR, { recursive: true });
  mkdirSync(LOG_DIR, { recursive: true });
}

/** A throw-away PKI under bench/.work/pki, generated once. */
export async function benchPki() {
  const marker = join(WORK_DIR, 'pki.json');
  if (existsSync(marker)) {
    const files = JSON.parse(readFileSync(marker, 'utf8'));
    if (ORGS.every((o) => files.clients[o.orgId] && existsSync(files.clients[o.orgId].cert))) return files;
  }
  const files = await generatePki(join(WORK_DIR, 'pki'), ORGS);
  writeFileSync(marker, JSON.stringify(files, null, 2));
  return files;
}

/** A loopback port nothing listens on (bound, then released). */
export function unusedPort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export function machine() {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) cpuModel = line.split(':').slice(1).join(':').trim();
  } catch {
    /* not Linux */
  }
  const sh = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  const dfLine = sh('df', ['-T', WORK_DIR]).split('\n')[1] ?? '';
  return {
    nproc: Number(sh('nproc', [])) || cpus().length,
    cpuModel,
    node: process.version,
    kernel: sh('uname', ['-sr']),
    memMiB: Math.round(Number(sh('awk', ['/MemTotal/ {print $2}', '/proc/meminfo'])) / 1024) || null,
    workDirFs: dfLine.split(/\s+/)[1] ?? 'unknown',
  };
}

/**
 * Machine-wide CPU time so far, in seconds (Linux /proc/stat; USER_HZ = 100). `busy` excludes idle, iowait and steal.
 * Used to tell whether something outside the benchmark used the CPU while it measured.
 */
export function systemCpu() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
    return { busy: (user + nice + system + irq + softirq) / 100, idle: idle / 100, iowait: iowait / 100, steal: (steal ?? 0) / 100 };
  } catch {
    return null;
  }
}

/** CPU seconds used by processes other than `ownSeconds` between two systemCpu() readings, per wall second. */
export function otherCores(before, after, ownSeconds, wallSeconds) {
  if (!before || !after || !(wallSeconds > 0)) return null;
  return Math.max(0, after.busy - before.busy - ownSeconds) / wallSeconds;
}

/** The newest modification time under dist/ (ms): a rebuild during the run changes it. */
export function distStamp() {
  const root = join(BENCH_DIR, '..', 'dist');
  let newest = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  walk(root);
  return newest;
}

/** The commit the tree is at, and whether src/ differs from it (dist/ is built from src/). */
export function sourceVersion() {
  const git = (args) => {
    try {
      return execFileSync('git', args, { cwd: join(BENCH_DIR, '..'), encoding: 'utf8' }).trim();
    } catch {
      return null;
    }
  };
  const commit = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--', 'src']);
  return { commit, srcModified: dirty === null ? null : dirty.length > 0 };
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes: forked with IPC, stdout/stderr into bench/.work/logs/<name>.log

/**
 * Forks `script` with `options` (JSON in argv[2]) and waits for its first `{type:'ready'}` message.
 * Returns { child, ready, request(msg, type, timeoutMs), waitFor(type, timeoutMs), kill(), logFile }.
 */
export async function startChild(script, options, name, timeoutMs = 30_000) {
  const logFile = join(LOG_DIR, `${name}.log`);
  const fd = openSync(logFile, 'a');
  // BENCH_PROF=1: every child writes a V8 CPU profile to bench/.work/prof/ (for finding where the time goes).
  const execArgv = process.env.BENCH_PROF === '1' ? ['--cpu-prof', `--cpu-prof-dir=${join(WORK_DIR, 'prof')}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
  if (options.exposeGc) execArgv.push('--expose-gc');
  const child = fork(join(BENCH_DIR, script), [JSON.stringify(options)], { stdio: ['ignore', fd, fd, 'ipc'], execArgv });
  const inbox = [];
  const waiters = [];
  let exited = null;
  child.on('message', (msg) => {
    const i = waiters.findIndex((w) => w.type === msg.type);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(msg);
    else inbox.push(msg);
  });
  child.on('exit', (code, signal) => {
    exited = { code, signal };
    for (const w of waiters.splice(0)) w.reject(new Error(`${name} exited (code ${code}, signal ${signal}) before '${w.type}'; see ${logFile}`));
  });
  const waitFor = (type, ms) => {
    const i = inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
    if (exited) return Promise.reject(new Error(`${name} already exited (${JSON.stringify(exited)}); see ${logFile}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const j = waiters.indexOf(entry);
        if (j >= 0) waiters.splice(j, 1);
        reject(new Error(`${name}: no '${type}' within ${ms} ms; see ${logFile}`));
      }, ms);
      const entry = {
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      waiters.push(entry);
    });
  };
  const kill = () => {
    if (!exited) child.kill('SIGKILL');
  };
  let ready;
  try {
    ready = await waitFor('ready', timeoutMs);
  } catch (err) {
    kill();
    throw err;
  }
  return {
    child,
    ready,
    logFile,
    waitFor,
    kill,
    request(msg, type, ms = 30_000) {
      const answer = waitFor(type, ms);
      child.send(msg);
      return answer;
    },
    /** Resolves when the child has exited; SIGKILLs it after `ms`. */
    exit(ms = 15_000) {
      if (exited) return Promise.resolve(exited);
      return new Promise((resolve) => {
        const timer = setTimeout(kill, ms);
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          resolve({ code, signal });
        });
      });
    },
  };
}

/** In a child: the options the parent passed. */
export function childOptions() {
  return JSON.parse(process.argv[2] ?? '{}');
}

/** In a child: send a message to the parent. */
export function tell(msg) {
  return new Promise((resolve) => process.send(msg, () => resolve()));
}

// ---------------------------------------------------------------------------------------------------------------
// Statistics

export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function summary(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), runs: v.length };
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
