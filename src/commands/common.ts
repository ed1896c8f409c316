import { ConfigError } from '../errors.js';
import { loadConfig } from '../config/load.js';
import { configSchema, type Config } from '../config/schema.js';

/** Exit codes of sysexits.h, which `run --check` and the commands share. */
export const EX_USAGE = 64;
export const EX_NOINPUT = 66;
export const EX_UNAVAILABLE = 69;
export const EX_CONFIG = 78;

/** One verb of the CLI: its help text and what it does; src/cli.ts only dispatches. */
export interface Command {
  help: string;
  run(args: string[]): Promise<void>;
}

export function fail(message: string, code: number): never {
  process.stderr.write(`pcm-sidecar: ${message}\n`);
  process.exit(code);
}

/** A setting that does not hold ends the command with the setting's name and EX_CONFIG. */
export function settingOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) fail(`invalid configuration: ${err.message}`, EX_CONFIG);
    throw err;
  }
}

export function configOrExit(file: string | undefined): Config {
  return settingOrExit(() => loadConfig({ configFile: file }));
}

/** Quarantined bodies refused as a whole are kept as text, not JSON. */
export { parseOrText } from '../json-text.js';

/** PCM_SHUTDOWN_GRACE_MS for the commands that read no configuration file (emulate, demo). */
export function shutdownGraceFromEnv(): number {
  const value = process.env.PCM_SHUTDOWN_GRACE_MS;
  const result = configSchema.shape.shutdown.safeParse({ graceMs: value === '' ? undefined : value });
  if (!result.success) fail(`invalid configuration: PCM_SHUTDOWN_GRACE_MS: ${result.error.issues[0]?.message ?? 'invalid'}`, EX_CONFIG);
  return result.data.graceMs;
}
