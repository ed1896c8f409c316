import { ConfigError } from '../errors.js';
import { EX_CONFIG, fail } from './exit.js';
import { loadConfig } from '../config/load.js';
import { configSchema, type Config } from '../config/schema.js';

export { EX_CONFIG, EX_NOINPUT, EX_UNAVAILABLE, EX_USAGE, fail, type Command } from './exit.js';

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
