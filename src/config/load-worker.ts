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
  // Structured clone keeps neither the class nor the cause: both in words, for load-thread.ts to build again.
  const cause = e.cause instanceof Error ? { causeMessage: e.cause.message } : {};
  const errorCode = (e as { code?: unknown }).code;
  const code = typeof errorCode === 'string' ? { code: errorCode } : {};
  const config = err instanceof ConfigError ? { setting: err.setting, detail: err.detail } : {};
  port.postMessage({ ok: false, name: e.name, message: e.message, ...cause, ...code, ...config });
}
