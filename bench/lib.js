// Shared helpers for the benchmark scripts in bench/. Plain ESM; imports only from ../dist and node_modules.
import { createHash, randomUUID } from 'node:crypto';
import { execFileSync, fork, spawn } from 'node:child_process';
import { closeSync, constants as fsConstants, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { DEMO_CLIENT_ORG, DEMO_SERVER_ORG, examplePair } from '../dist/demo.js';
import { NODE_FLAGS } from '../dist/node-flags.js';

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

/**
 * Reports for a prefilled spool, as the spool's public API takes them (`NewReport` of src/spool/spool.ts): CLIENT and
 * SERVER of one interaction alternately, each pair with its own fapiInteractionId. The ids are time-ordered (UUIDv7
 * layout: `prefix` then a counter), so a prefill of millions of rows is not dominated by random inserts into the
 * spool's indexes; every id is unique within a `prefix`. Given the same `now` and `prefix`, two generators produce
 * byte-identical reports in the same order (the drain's bare baseline posts exactly what the sidecar sends).
 */
export function spoolRows({ now, prefix }) {
  const [client, server] = examplePair(now, MARKER);
  const shape = (report, orgId) => ({
    parts: JSON.stringify(report).split(MARKER),
    orgId,
    // Unique per report, in the form of the sidecar's own key (role|id|endpoint|method|timestamp).
    key: (id) => `${report.role}|${id}|${report.endpoint}|${report.httpMethod}|${report.timestamp}`,
  });
  const roles = [shape(client, client.clientOrgId), shape(server, server.serverOrgId)];
  if (!/^[0-9a-f]{8}$/.test(prefix)) throw new Error(`spoolRows: prefix must be 8 hex digits, got ${prefix}`);
  const idOf = (i) => {
    const h = i.toString(16).padStart(22, '0');
    return `${prefix}-${h.slice(0, 4)}-7${h.slice(4, 7)}-8${h.slice(7, 10)}-${h.slice(10)}`;
  };
  let pair = 0;
  let role = 0;
  const make = () => {
    const shape = roles[role];
    const id = idOf(pair);
    const report = { stream: 'private', orgId: shape.orgId, dedupKey: shape.key(id), fapiInteractionId: id, json: shape.parts.join(id), repairs: [], findings: null };
    role ^= 1;
    if (role === 0) pair++;
    return report;
  };
  return {
    orgIds: roles.map((r) => r.orgId),
    /** The next `count` reports (NewReport objects). */
    next(count) {
      const out = new Array(count);
      for (let i = 0; i < count; i++) out[i] = make();
      return out;
    },
  };
}

/** A fresh 8-hex-digit prefix for spoolRows(). */
export function rowPrefix() {
  return randomUUID().slice(0, 8);
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
  // Loaded here: the children import this file too, and the sidecar they measure never loads x509.
  const { generatePki } = await import('../dist/pki/certs.js');
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
// Processes as the kernel sees them (Linux /proc): CPU time and resident memory of any pid, read by the parent, so
// every process (Node children, Fluent Bit, the CLI) is measured the same way.

let clockTicks = null;
function ticksPerSecond() {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU seconds (user + system, all threads) a live process has used so far, from /proc/<pid>/stat; null if gone. */
export function procCpu(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) in parentheses; utime and stime are fields 14 and 15.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / ticksPerSecond();
  } catch {
    return null;
  }
}

/** Resident memory of a live process from /proc/<pid>/status: now (VmRSS) and its peak so far (VmHWM), MiB. */
export function procMem(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (name) => {
      const m = text.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'));
      return m ? Number(m[1]) / 1024 : null;
    };
    return { rssMiB: kib('VmRSS'), hwmMiB: kib('VmHWM') };
  } catch {
    return null;
  }
}

/**
 * Samples a process's VmRSS every `intervalMs` until stop(); stop() reads VmHWM once more (the kernel's exact peak
 * over the process's life, which the samples can only approach) and returns both, MiB.
 */
export function watchRss(pid, intervalMs = 20) {
  let sampled = 0;
  let hwm = 0;
  const take = () => {
    const m = procMem(pid);
    if (m) {
      sampled = Math.max(sampled, m.rssMiB ?? 0);
      hwm = Math.max(hwm, m.hwmMiB ?? 0);
    }
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      take();
      clearInterval(timer);
      return { sampledPeakMiB: sampled, hwmMiB: hwm, peakMiB: Math.max(sampled, hwm) };
    },
  };
}

/** CPU seconds of several processes between start() and read(); `self` counts this process (process.cpuUsage). */
export function cpuWindow(pids) {
  const before = new Map(pids.map((pid) => [pid, procCpu(pid)]));
  const selfBefore = process.cpuUsage();
  const sysBefore = systemCpu();
  const wallBefore = performance.now();
  return {
    read() {
      const wall = (performance.now() - wallBefore) / 1000;
      const own = process.cpuUsage(selfBefore);
      const self = (own.user + own.system) / 1e6;
      const per = {};
      let sum = self;
      for (const [pid, b] of before) {
        const a = procCpu(pid);
        per[pid] = a !== null && b !== null ? a - b : null;
        sum += per[pid] ?? 0;
      }
      return { wall, self, per, otherCores: otherCores(sysBefore, systemCpu(), sum, wall) };
    },
  };
}

/** Copies a (large) file and makes the copy durable before anything is measured on it (no writeback under load). */
export function copyDurable(from, to) {
  for (const suffix of ['', '-wal', '-shm']) rmSync(to + suffix, { force: true });
  copyFileSync(from, to, fsConstants.COPYFILE_FICLONE); // a reflink where the filesystem has them, else a copy
  const fd = openSync(to, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function removeDb(path) {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
}

/** A hash of the built spool code (dist/spool/), so a cached prefilled spool is reused only with the same code. */
export function spoolCodeHash() {
  const dir = join(BENCH_DIR, '..', 'dist', 'spool');
  const hash = createHash('sha256');
  for (const name of readdirSync(dir).sort()) {
    if (name.endsWith('.js')) hash.update(name).update(readFileSync(join(dir, name)));
  }
  return hash.digest('hex').slice(0, 12);
}

/**
 * Spawns a non-Node program (Fluent Bit) or the CLI with output into bench/.work/logs/<name>.log.
 * Returns { child, pid, logFile, exit(ms) } where exit() sends SIGTERM and SIGKILLs after `ms`.
 */
export function startProcess(command, args, name, env = process.env) {
  const logFile = join(LOG_DIR, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  let exited = null;
  const onExit = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
    child.once('error', (err) => {
      exited = { code: null, signal: null, error: String(err) };
      resolve(exited);
    });
  });
  return {
    child,
    pid: child.pid,
    logFile,
    get exited() {
      return exited;
    },
    onExit,
    exit(ms = 10_000) {
      if (exited) return Promise.resolve(exited);
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!exited) child.kill('SIGKILL');
      }, ms);
      return onExit.finally(() => clearTimeout(timer));
    },
  };
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
  // The sidecar's children start with the V8 flags the bin and the image use (src/node-flags.ts), or with
  // BENCH_NODE_FLAGS ('' for none, space-separated otherwise) to measure without them; options.nodeFlags adds more.
  if ((options.mode === 'sidecar' || script === 'drain-child.js') && !options.noNodeFlags) execArgv.push(...(process.env.BENCH_NODE_FLAGS !== undefined ? process.env.BENCH_NODE_FLAGS.split(' ').filter(Boolean) : NODE_FLAGS));
  if (options.nodeFlags) execArgv.push(...options.nodeFlags);
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

/**
 * In a child: the sidecar's configuration from `input`, read as `pcm-sidecar run --config FILE` reads it — in a
 * thread that then ends (src/config/load-thread.ts), so zod is not in the measured process, and PCM_* variables of
 * the environment win (`PCM_INGEST_LARGE_BODY_GC_BYTES=0 node bench/run.js …` measures without a setting's effect).
 */
export async function configApart(input) {
  const file = join(WORK_DIR, `config-${process.pid}.json`);
  writeFileSync(file, JSON.stringify(input));
  const { loadConfigApart } = await import('../dist/config/load-thread.js');
  try {
    return await loadConfigApart({ configFile: file });
  } finally {
    rmSync(file, { force: true });
  }
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
