import { ConfigError, errorMessage } from '../errors.js';
import { EX_CONFIG, fail } from './exit.js';
import { loadConfigApart } from '../config/load-thread.js';
import type { Config } from '../config/schema.js';

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

/** The configuration, read in a thread of its own (config/load-thread.ts: zod never stays in this process). */
export async function configOrExit(file: string | undefined): Promise<Config> {
  try {
    return await loadConfigApart({ configFile: file });
  } catch (err) {
    // With the cause: "cannot read x.json (ENOENT …)".
    if (err instanceof ConfigError) fail(`invalid configuration: ${errorMessage(err)}`, EX_CONFIG);
    throw err;
  }
}

/** Quarantined bodies refused as a whole are kept as text, not JSON. */
export { parseOrText } from '../json-text.js';
