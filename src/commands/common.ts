import { ConfigError, errorMessage } from '../errors.js';
import { EX_CONFIG, fail } from './exit.js';
import { loadConfigApart } from '../config/load-thread.js';
import type { Config } from '../config/schema.js';

export { EX_CONFIG, EX_NOINPUT, EX_UNAVAILABLE, EX_USAGE, fail, type Command } from './exit.js';

/** A setting that does not hold ends the command with the setting's name, its cause ("cannot read x.json (ENOENT …)") and EX_CONFIG. */
function exitOnConfigError(err: unknown): never {
  if (err instanceof ConfigError) fail(`invalid configuration: ${errorMessage(err)}`, EX_CONFIG);
  throw err;
}

export function settingOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    return exitOnConfigError(err);
  }
}

/** The configuration, read in a thread of its own (config/load-thread.ts: zod never stays in this process). */
export async function configOrExit(file: string | undefined): Promise<Config> {
  return loadConfigApart({ configFile: file }).catch(exitOnConfigError);
}

/** Quarantined bodies refused as a whole are kept as text, not JSON. */
export { parseOrText } from '../json-text.js';
