#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from './config/load.js';
import { ConfigError, SidecarError, errorMessage } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { EMULATOR_DEFAULTS, PcmEmulator } from './pcm/emulator.js';

const EX_USAGE = 64;
const EX_CONFIG = 78;

const HELP = {
  main: `pcm-sidecar — lossless, validated Open Finance Brasil PCM reporting

Usage: pcm-sidecar <command> [options]

Commands:
  run        Run the sidecar (ingest → SQLite spool → PCM). Configured by PCM_* variables and --config.
  emulate    Run the PCM emulator alone (token over mTLS, report API, /emulator/* inspection).
  demo       Run the emulator and the sidecar together on loopback, with generated certificates.

Run 'pcm-sidecar <command> --help' for a command's options.
`,
  run: `Usage: pcm-sidecar run [--config FILE]

Runs the sidecar. Settings come from PCM_* environment variables and an optional JSON file (--config FILE or
PCM_CONFIG); variables win. Every setting is listed in README.md ("Configuration"). Required: PCM_API_URL,
PCM_AUTH_URL, and an organisation (PCM_ORG_ID, PCM_CLIENT_ID, PCM_CERT_FILE, PCM_KEY_FILE, or "organisations" in
the file). Invalid settings stop the start with a message naming the setting (exit 78).

SIGTERM/SIGINT: stop accepting, answer requests in flight, finish or release batches in flight, close the spool, exit 0.

Options:
  --config FILE   JSON configuration file
  -h, --help      this help
`,
  emulate: `Usage: pcm-sidecar emulate --cert FILE --key FILE --ca FILE [options]

Runs the PCM emulator over HTTPS. /token/ requires a client certificate signed by --ca; the organisationId is read
from the certificate's OU. Prints one JSON line with its URL when listening.

Options:
  --cert FILE              server certificate (PEM)
  --key FILE               server key (PEM)
  --ca FILE                CA for client certificates (PEM)
  --host HOST              listen address (default ${EMULATOR_DEFAULTS.host})
  --port PORT              listen port (default ${EMULATOR_DEFAULTS.port}; 0 picks a free one)
  --token-expires-in SECS  token lifetime (default ${EMULATOR_DEFAULTS.tokenExpiresIn})
  -h, --help               this help
`,
  demo: `Usage: pcm-sidecar demo [--dir DIR] [--port PORT] [--emulator-port PORT]

Starts the PCM emulator and the sidecar together on loopback, with certificates generated into DIR, and prints the
ingest URL, a curl example (a CLIENT/SERVER pair) and where to look. This is what 'npm start' runs.

Options:
  --dir DIR              working folder for certificates and the spool (default .pcm-demo)
  --port PORT            ingest port (default 8431)
  --emulator-port PORT   emulator port (default 8443)
  -h, --help             this help
`,
} as const;

function fail(message: string, code: number): never {
  process.stderr.write(`pcm-sidecar: ${message}\n`);
  process.exit(code);
}

/** Stops once on SIGTERM/SIGINT; a second signal exits at once. */
function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal; exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return void process.stdout.write(HELP.run);
  let config;
  try {
    config = loadConfig({ configFile: values.config });
  } catch (err) {
    if (err instanceof ConfigError) fail(`invalid configuration: ${err.message}`, EX_CONFIG);
    throw err;
  }
  const log = createLogger(config.log.level);
  const { startSidecar } = await import('./sidecar.js');
  const sidecar = await startSidecar(config, log);
  onShutdown(log, () => sidecar.stop());
}

async function emulate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      cert: { type: 'string' },
      key: { type: 'string' },
      ca: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'token-expires-in': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void process.stdout.write(HELP.emulate);
  const read = (flag: 'cert' | 'key' | 'ca'): Buffer => {
    const file = values[flag];
    if (!file) fail(`emulate: --${flag} FILE is required (see --help)`, EX_USAGE);
    try {
      return readFileSync(file);
    } catch (err) {
      return fail(`emulate: --${flag}: cannot read ${file}: ${errorMessage(err)}`, EX_CONFIG);
    }
  };
  const number = (flag: 'port' | 'token-expires-in', fallback: number): number => {
    const value = values[flag];
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) fail(`emulate: --${flag} must be a whole number, got "${value}"`, EX_USAGE);
    return n;
  };
  const log = createLogger('info', 'pcm-emulator');
  const emulator = new PcmEmulator({
    ...EMULATOR_DEFAULTS,
    host: values.host ?? EMULATOR_DEFAULTS.host,
    port: number('port', EMULATOR_DEFAULTS.port),
    tokenExpiresIn: number('token-expires-in', EMULATOR_DEFAULTS.tokenExpiresIn),
    cert: read('cert'),
    key: read('key'),
    ca: read('ca'),
  });
  const url = await emulator.start();
  log.info({ url }, 'PCM emulator listening');
  onShutdown(log, () => emulator.stop());
}

async function demo(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: 'string' },
      port: { type: 'string' },
      'emulator-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void process.stdout.write(HELP.demo);
  const log = createLogger((process.env.PCM_LOG_LEVEL as 'info' | undefined) ?? 'info');
  const { startDemo } = await import('./demo.js');
  const running = await startDemo(
    {
      dir: values.dir ?? '.pcm-demo',
      ingestPort: Number(values.port ?? 8431),
      emulatorPort: Number(values['emulator-port'] ?? EMULATOR_DEFAULTS.port),
    },
    log,
  );
  process.stdout.write(running.banner);
  onShutdown(log, () => running.stop());
}

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = { run, emulate, demo };

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP.main);
    if (!command) process.exitCode = EX_USAGE;
    return;
  }
  const handler = COMMANDS[command];
  if (!handler) fail(`unknown command "${command}"\n\n${HELP.main}`, EX_USAGE);
  await handler(rest);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof SidecarError) fail(`${err.code}: ${err.message}`, 1);
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') fail(`cannot listen: ${errorMessage(err)} (is another instance running?)`, 1);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') fail(`${errorMessage(err)} (see --help)`, EX_USAGE);
  fail(errorMessage(err), 1);
});
