import { parseArgs } from 'node:util';
import { loadConfigApart } from '../config/load-thread.js';
import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { createLogger } from '../log.js';
import { configOrExit, type Command } from './common.js';
import { onShutdown } from './shutdown.js';

const HELP = `Usage: pcm-sidecar run [--config FILE] [--check [--token]]

Runs the sidecar. Settings come from PCM_* environment variables and an optional JSON file (--config FILE or
PCM_CONFIG); variables win. Every setting is listed in README.md ("Configuration"). Required: PCM_API_URL,
PCM_AUTH_URL, and an organisation (PCM_ORG_ID, PCM_CLIENT_ID, PCM_CERT_FILE, PCM_KEY_FILE, or "organisations" in
the file). An agent that forwards to an aggregator instead (PCM_FORWARD_URL with PCM_FORWARD_TOKEN_FILE and/or
PCM_FORWARD_CERT_FILE + PCM_FORWARD_KEY_FILE) needs only PCM_ORG_ID: no PCM URL, no certificate. Invalid
settings (a broken endpoint catalogue included) stop the start with a message naming the setting (exit 78).

SIGTERM/SIGINT (or a closed stdout): stop accepting, answer requests in flight, finish or release batches in flight,
close the spool, exit 0 — within PCM_SHUTDOWN_GRACE_MS, or exit 1 when that runs out; a second signal exits 1 at once.
SIGHUP: read the endpoint catalogue, the rule settings (PCM_RULE_*, rules.overrides) and the webhook subscriptions
(alerts.subscriptions, PCM_ALERTS_URL…) again, for what arrives from then on; a configuration that does not hold is
logged and the running one stays. Other settings need a restart.

With --check it starts nothing: it validates the settings, reads the endpoint catalogue, the pepper, the CA and
each organisation's certificate and key (the pair must match), and with --token also asks the token endpoint for a
token per organisation; one line per check. Exit 0 when all pass, 78 for invalid settings, 66 for a file that cannot
be read or used, 69 when the token endpoint does not give a token.

Options:
  --config FILE   JSON configuration file
  --check         check the configuration and exit (see above)
  --token         with --check: also obtain a token for each organisation
  -h, --help      this help
`;

async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string' }, check: { type: 'boolean' }, token: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return void process.stdout.write(HELP);
  // The sidecar's modules load on this thread while the configuration is read on its own (two cores, one start).
  const modules = values.check ? import('./check.js') : import('../sidecar.js');
  modules.catch(() => undefined); // an unusable configuration ends the process first; otherwise awaited below
  // A SIGHUP while starting (Node's default action would end the process) is remembered and done once started.
  let hupWhileStarting = false;
  const remember = (): void => void (hupWhileStarting = true);
  process.on('SIGHUP', remember);
  const config = await configOrExit(values.config);
  if (values.check) {
    const { checkConfig } = (await modules) as typeof import('./check.js');
    const lines = await checkConfig(config, { token: values.token === true });
    process.stdout.write('settings: ok\n');
    for (const line of lines) process.stdout.write(`${line.what}: ${line.ok ? 'ok' : 'PROBLEM'}: ${line.detail}\n`);
    process.exitCode = lines.find((l) => !l.ok)?.code ?? 0;
    return;
  }
  const log = createLogger(config.log.level);
  const { startSidecar } = (await modules) as typeof import('../sidecar.js');
  const sidecar = await startSidecar(config, log);
  onShutdown(log, config.shutdown.graceMs, (phaseGraceMs) => sidecar.stop(phaseGraceMs));
  // SIGHUP reads the endpoint catalogue, the rule settings and the webhook subscriptions again; a bad one is logged
  // and the running ones stay. Other settings and the organisations need a restart. One reload at a time; signals
  // that come while one waits to start are that one.
  let reloads: Promise<unknown> = Promise.resolve();
  let waiting = false;
  const reload = (): void => {
    if (waiting) return;
    waiting = true;
    reloads = reloads
      .then(() => {
        waiting = false;
        return loadConfigApart({ configFile: values.config });
      })
      .then(
        (next: Config) => sidecar.reload(next).catch((err: unknown) => log.error({ err: errorMessage(err) }, 'SIGHUP: could not reload; the running catalogue, rules and subscriptions stay')),
        (err: unknown) => log.error({ err: errorMessage(err) }, 'SIGHUP: the configuration does not hold; the running catalogue, rules and subscriptions stay'),
      )
      // Never rejected, or the next signal would wait behind it for good.
      .catch(() => undefined);
  };
  process.off('SIGHUP', remember);
  process.on('SIGHUP', reload);
  if (hupWhileStarting) reload();
}

export const command: Command = { help: HELP, run: run };
