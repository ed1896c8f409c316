/**
 * What every verb and the dispatcher share, and nothing more: cli.ts imports this at start, so it must stay free of
 * the configuration (zod) that `--version` and `--help` do not need.
 */

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
