import { parseArgs } from 'node:util';
import { EMULATOR_DEFAULTS } from '../emulator/emulator.js';
import { createLogger } from '../log.js';
import { type Command } from './common.js';
import { shutdownGraceFromEnv } from './grace-env.js';
import { onShutdown } from './shutdown.js';

const HELP = `Usage: pcm-sidecar demo [--dir DIR] [--port PORT] [--admin-port PORT] [--emulator-port PORT] [--emulator-auth-port PORT]

Starts the PCM emulator and the sidecar together on loopback, with certificates generated into DIR, and prints the
ingest and admin URLs, a curl example (a CLIENT/SERVER pair) and where to look. This is what 'npm start' runs.

Options:
  --dir DIR              working folder for certificates and the spool (default .pcm-demo)
  --port PORT            ingest port (default 8431)
  --admin-port PORT      admin listener port: metrics, status, the admin API (default 9431; a free one with --port 0)
  --emulator-port PORT        emulator report API port (default 8443)
  --emulator-auth-port PORT   emulator token port (default 8444)
  -h, --help             this help
`;

async function demo(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: 'string' },
      port: { type: 'string' },
      'admin-port': { type: 'string' },
      'emulator-port': { type: 'string' },
      'emulator-auth-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void process.stdout.write(HELP);
  const graceMs = shutdownGraceFromEnv();
  const log = createLogger((process.env.PCM_LOG_LEVEL as 'info' | undefined) ?? 'info');
  const { startDemo } = await import('../demo.js');
  const running = await startDemo(
    {
      dir: values.dir ?? '.pcm-demo',
      ingestPort: Number(values.port ?? 8431),
      ...(values['admin-port'] === undefined ? {} : { adminPort: Number(values['admin-port']) }),
      emulatorPort: Number(values['emulator-port'] ?? EMULATOR_DEFAULTS.port),
      emulatorAuthPort: Number(values['emulator-auth-port'] ?? EMULATOR_DEFAULTS.authPort),
    },
    log,
  );
  process.stdout.write(running.banner);
  onShutdown(log, graceMs, (phaseGraceMs) => running.stop(phaseGraceMs));
}

export const command: Command = { help: HELP, run: demo };
