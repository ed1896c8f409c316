import { Worker } from 'node:worker_threads';
import { ConfigError } from '../errors.js';
import { workerFile } from '../worker-file.js';
import type { Config } from './schema.js';

/**
 * loadConfig in a worker thread that ends once it has answered: the schema and zod live in that thread's heap and
 * go with it, so the running sidecar never holds them (~11 MiB of RSS, issue #8). The configuration is plain data
 * (structured clone keeps it whole); the environment is the worker's copy of this process's. A setting that does
 * not hold rejects with a ConfigError of the same setting and message as loadConfig's, its cause's message kept;
 * another error, with its name, message, code and cause's message (not its stack, which is the worker's).
 */

type Answer = { ok: true; config: Config } | { ok: false; name: string; message: string; causeMessage?: string; code?: string; setting?: string; detail?: string };

export function loadConfigApart(options: { configFile?: string | undefined } = {}): Promise<Config> {
  return new Promise<Config>((resolve, reject) => {
    const worker = new Worker(workerFile(new URL('./load-worker.js', import.meta.url)), { workerData: { configFile: options.configFile } });
    let answered = false;
    worker.once('message', (answer: Answer) => {
      answered = true;
      if (answer.ok) return resolve(answer.config);
      const cause = answer.causeMessage === undefined ? undefined : { cause: new Error(answer.causeMessage) };
      if (answer.setting !== undefined && answer.detail !== undefined) return reject(new ConfigError(answer.setting, answer.detail, cause));
      reject(Object.assign(new Error(answer.message, cause), { name: answer.name }, answer.code === undefined ? {} : { code: answer.code }));
    });
    worker.once('error', (err) => {
      answered = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`the configuration thread ended (code ${code}) without an answer`));
    });
  });
}
