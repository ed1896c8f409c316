#!/usr/bin/env node
import { SidecarError, errorMessage } from './errors.js';
import { EX_CONFIG, EX_USAGE, fail, type Command } from './commands/exit.js';
import { onOutputClosed } from './commands/shutdown.js';
import { packageVersion } from './version.js';

/** Each verb lives in src/commands/ and is loaded only when called, so `--version` and `--help` stay quick. */
const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  run: () => import('./commands/run.js'),
  emulate: () => import('./commands/emulate.js'),
  demo: () => import('./commands/demo.js'),
  validate: () => import('./commands/validate.js'),
  quarantine: () => import('./commands/quarantine.js'),
  deadletter: () => import('./commands/deadletter.js'),
  catalog: () => import('./commands/catalog.js'),
  rules: () => import('./commands/rules.js'),
};

const HELP = `pcm-sidecar — lossless, validated Open Finance Brasil PCM reporting

Usage: pcm-sidecar <command> [options]

Commands:
  run        Run the sidecar (ingest → SQLite spool → PCM). Configured by PCM_* variables and --config.
  emulate    Run the PCM emulator alone (token over mTLS, report API, /emulator/* inspection).
  demo       Run the emulator and the sidecar together on loopback, with generated certificates.
  validate   Check reports in a file (JSON array or NDJSON) offline, as the sidecar would; exit 1 on any failure.
  quarantine List what ingest refused, or replay it with today's catalogue and settings.
  deadletter List reports that will not be sent again (DISCARDED, refused, too old), or replay them after a fix.
  catalog    Print the active endpoint catalogue and its version.
  rules      Print the rule table: each rule's severity (discard / quality) and source.

Run 'pcm-sidecar <command> --help' for a command's options; 'pcm-sidecar --version' for the version.
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-V' || command === 'version') return void process.stdout.write(`pcm-sidecar ${packageVersion()}\n`);
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    if (!command) process.exitCode = EX_USAGE;
    return;
  }
  const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!load) fail(`unknown command "${command}"\n\n${HELP}`, EX_USAGE);
  await (await load()).command.run(rest);
}

process.stdout.on('error', onOutputClosed);
process.stderr.on('error', onOutputClosed);

main(process.argv.slice(2)).catch((err: unknown) => {
  // A bad catalogue or fault file is a setting like any other: the same exit code as an invalid configuration.
  const settingErrors = new Set(['PCM_CATALOG_INVALID', 'PCM_EMULATOR_FAULTS_INVALID', 'PCM_CONFIG_INVALID']);
  if (err instanceof SidecarError) fail(`${err.code}: ${err.message}`, settingErrors.has(err.code) ? EX_CONFIG : 1);
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') fail(`cannot listen: ${errorMessage(err)} (is another instance running?)`, 1);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    fail(`${errorMessage(err)} (see --help)`, EX_USAGE);
  }
  fail(errorMessage(err), 1);
});
