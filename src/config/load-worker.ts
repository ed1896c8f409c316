import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError } from '../errors.js';
import { loadConfig } from './load.js';

/** load-thread.ts's worker: reads the configuration with zod, answers it as plain data, and ends. */

const port = parentPort;
if (!port) throw new Error('load-worker.ts runs as a worker thread');
const { configFile } = workerData as { configFile?: string };
try {
  port.postMessage({ ok: true, config: loadConfig({ configFile }) });
} catch (err) {
  const e = err instanceof Error ? err : new Error(String(err));
  port.postMessage({ ok: false, name: e.name, message: e.message, ...(err instanceof ConfigError ? { setting: err.setting, detail: e.message.slice(err.setting.length + 2) } : {}) });
}
