#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig, loadRuleSettings } from './config/load.js';
import { configSchema, type Config } from './config/schema.js';
import { ConfigError, SidecarError, errorMessage } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { EMULATOR_DEFAULTS, PcmEmulator } from './emulator/emulator.js';

const EX_USAGE = 64;
const EX_CONFIG = 78;

const HELP = {
  main: `pcm-sidecar — lossless, validated Open Finance Brasil PCM reporting

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
`,
  run: `Usage: pcm-sidecar run [--config FILE] [--check [--token]]

Runs the sidecar. Settings come from PCM_* environment variables and an optional JSON file (--config FILE or
PCM_CONFIG); variables win. Every setting is listed in README.md ("Configuration"). Required: PCM_API_URL,
PCM_AUTH_URL, and an organisation (PCM_ORG_ID, PCM_CLIENT_ID, PCM_CERT_FILE, PCM_KEY_FILE, or "organisations" in
the file). An agent that forwards to an aggregator instead (PCM_FORWARD_URL with PCM_FORWARD_TOKEN_FILE and/or
PCM_FORWARD_CERT_FILE + PCM_FORWARD_KEY_FILE) needs only PCM_ORG_ID: no PCM URL, no certificate. Invalid
settings (a broken endpoint catalogue included) stop the start with a message naming the setting (exit 78).

SIGTERM/SIGINT (or a closed stdout): stop accepting, answer requests in flight, finish or release batches in flight,
close the spool, exit 0 — within PCM_SHUTDOWN_GRACE_MS, or exit 1 when that runs out; a second signal exits 1 at once.
SIGHUP: read the endpoint catalogue and the rule settings (PCM_RULE_*, rules.overrides) again, for the reports that
arrive from then on; a configuration that does not hold is logged and the running one stays. Other settings need a
restart.

With --check it starts nothing: it validates the settings, reads the endpoint catalogue, the pepper, the CA and
each organisation's certificate and key (the pair must match), and with --token also asks the token endpoint for a
token per organisation; one line per check. Exit 0 when all pass, 78 for invalid settings, 66 for a file that cannot
be read or used, 69 when the token endpoint does not give a token.

Options:
  --config FILE   JSON configuration file
  --check         check the configuration and exit (see above)
  --token         with --check: also obtain a token for each organisation
  -h, --help      this help
`,
  emulate: `Usage: pcm-sidecar emulate --cert FILE --key FILE --ca FILE [options]

Runs the PCM emulator over HTTPS: the auth host (/token/, /token-fresh/) refuses the TLS handshake without a client
certificate signed by --ca and reads the organisationId from the certificate's OU; the API host serves the private
and opendata report APIs, GET /report-api/v1/private/report/{fapiInteractionId}, and /emulator/* (stats, reports,
quality, reset, reconcile, faults). Prints one JSON line with "url" and "authUrl" when listening.

Options:
  --cert FILE              server certificate (PEM)
  --key FILE               server key (PEM)
  --ca FILE                CA for client certificates (PEM)
  --host HOST              listen address (default ${EMULATOR_DEFAULTS.host})
  --port PORT              report API port (default ${EMULATOR_DEFAULTS.port}; 0 picks a free one)
  --auth-port PORT         token port (default ${EMULATOR_DEFAULTS.authPort}; 0 picks a free one)
  --token-expires-in SECS  token lifetime (default ${EMULATOR_DEFAULTS.tokenExpiresIn})
  --clients FILE           JSON {"client_id": "organisationId", ...}; unknown client_ids are refused
  --rate-limit N           report requests per second before 429 (default ${EMULATOR_DEFAULTS.rateLimit})
  --no-retry-after         answer rate-limit 429s without Retry-After
  --pairing-delay-ms MS    wait before reconciling a report (default ${EMULATOR_DEFAULTS.pairingDelayMs})
  --state FILE             keep reports in this SQLite file (default: in memory)
  --max-reports N          reports kept; past it the oldest are deleted (default ${EMULATOR_DEFAULTS.maxReports})
  --faults FILE            fault injection settings (JSON; see README); change at run time with PUT /emulator/faults
  --catalog FILE           endpoint catalogue (default data/catalog/endpoints.json)
  --error-codes FORM       additionalInfo.errorCodes as one code "string" or an "array" of strings (default ${EMULATOR_DEFAULTS.errorCodesAs})
  -h, --help               this help
`,
  demo: `Usage: pcm-sidecar demo [--dir DIR] [--port PORT] [--emulator-port PORT] [--emulator-auth-port PORT]

Starts the PCM emulator and the sidecar together on loopback, with certificates generated into DIR, and prints the
ingest URL, a curl example (a CLIENT/SERVER pair) and where to look. This is what 'npm start' runs.

Options:
  --dir DIR              working folder for certificates and the spool (default .pcm-demo)
  --port PORT            ingest port (default 8431)
  --emulator-port PORT        emulator report API port (default 8443)
  --emulator-auth-port PORT   emulator token port (default 8444)
  -h, --help             this help
`,
  validate: `Usage: pcm-sidecar validate FILE|- [--strict] [--org ORG_ID]... [--catalog FILE] [--config FILE]

Checks each report in FILE (a JSON array or NDJSON; - reads stdin) with the sidecar's own normalisation and
validation, prints each problem with its line, field, severity and rule, then a count per rule and a summary.
A discard-level problem means the PCM would answer DISCARDED: the sidecar refuses the item. A quality-level one
means the PCM takes the report and may open a data-quality ticket: the sidecar sends it and shows the finding.
Exits 1 when any item would be discarded; with --strict, also when any has quality findings.
The reporter-organisation rule applies when organisations are given with --org (repeatable) or configured
(--config / PCM_ORG_ID). The time window (7 days back, 5 minutes ahead) uses the current clock.

Options:
  --strict           exit 1 on quality findings too
  --org ORG_ID       an organisation reports may be sent for (repeatable)
  --catalog FILE     endpoint catalogue (default: PCM_ENDPOINT_CATALOG or the one shipped)
  --config FILE      take organisations, catalogue and rule settings from this file and PCM_* variables
  -h, --help         this help
`,
  quarantine: `Usage: pcm-sidecar quarantine list [--limit N] [--config FILE]
       pcm-sidecar quarantine replay [--config FILE]

list    prints quarantined items (oldest first): id, time received, route, first problem.
replay  validates every quarantined item again with the current catalogue and settings (after a catalogue
        update, say) and moves what now passes to the spool, where the running sidecar picks it up.
Settings (spool path, organisations, catalogue, rules) as for 'run'.

Options:
  --limit N        list at most N items (default 100)
  --json           list as NDJSON, with the items and all problems
  --config FILE    JSON configuration file
  -h, --help       this help
`,
  deadletter: `Usage: pcm-sidecar deadletter list [--reason R] [--since TIME] [--limit N] [--json] [--config FILE]
       pcm-sidecar deadletter replay [--reason R] [--since TIME] [--config FILE]

Dead letters are reports that will not be sent again: reason pcm (the PCM answered DISCARDED, with its message),
refused (the PCM refused every request holding it until the sender isolated it) or too-old (past the PCM's age
limit before it could be sent).
list    prints them, newest first: id, when, reason, lane, the report's time, the message.
replay  validates each one not yet replayed again with the current catalogue and settings (after the cause was
        fixed) and stores those that pass as new reports, which the running sidecar then sends; the others stay.
Settings (spool path, organisations, catalogue, rules) as for 'run'. Safe next to a running sidecar.

Options:
  --reason R       pcm, refused or too-old
  --since TIME     only those decided at or after TIME (ISO 8601, e.g. 2026-12-01 or 2026-12-01T08:00:00-03:00)
  --limit N        list at most N (default 100)
  --json           list as NDJSON, with the stored report
  --config FILE    JSON configuration file
  -h, --help       this help
`,
  rules: `Usage: pcm-sidecar rules [--json]

Prints every rule reports are checked against, by severity: discard (the PCM answers DISCARDED; the sidecar refuses
and quarantines the item) and quality (the PCM takes the report and may open a data-quality ticket; the sidecar
sends it and shows the finding), with the section of pcm-rules.md it comes from. PCM_RULE_QUALITY=refuse refuses
quality findings too; "rules": {"overrides": {"<rule>": "refuse" | "send" | "ignore"}} in the config file changes one.

Options:
  --json   print the table as JSON
`,
  catalog: `Usage: pcm-sidecar catalog [--catalog FILE] [--json]

Prints the active endpoint catalogue: its version, then each private and opendata template with its API and the
release it comes from. PCM_ENDPOINT_CATALOG (or --catalog) points at a newer file without a rebuild.

Options:
  --catalog FILE   catalogue file (default: PCM_ENDPOINT_CATALOG or the one shipped)
  --json           print the catalogue as JSON
  -h, --help       this help
`,
} as const;

function fail(message: string, code: number): never {
  process.stderr.write(`pcm-sidecar: ${message}\n`);
  process.exit(code);
}

/** Set by a running server (run, emulate, demo): a closed stdout stops it in order rather than at once. */
let stopOnOutputClosed: (() => void) | null = null;

/**
 * stdout or stderr closed under us (`pcm-sidecar demo | head -c 100`, EPIPE): the reader has what it wanted. A
 * command ends quietly with 0, as Unix tools do; a server first stops in order, as on SIGTERM.
 */
function onOutputClosed(): void {
  if (stopOnOutputClosed) return stopOnOutputClosed();
  process.exit(0);
}

/** PCM_SHUTDOWN_GRACE_MS for the commands that read no configuration file (emulate, demo). */
function shutdownGraceFromEnv(): number {
  const value = process.env.PCM_SHUTDOWN_GRACE_MS;
  const result = configSchema.shape.shutdown.safeParse({ graceMs: value === '' ? undefined : value });
  if (!result.success) fail(`invalid configuration: PCM_SHUTDOWN_GRACE_MS: ${result.error.issues[0]?.message ?? 'invalid'}`, EX_CONFIG);
  return result.data.graceMs;
}

/**
 * Stops once on SIGTERM/SIGINT (or a closed stdout), and always ends in an exit within `graceMs`: the orderly stop
 * gets its phases' share of it (`stop(phaseGraceMs)`: draining ingest, then the sender, each at most 40 %); a
 * watchdog armed at the first signal exits 1 if the stop overruns the whole of it; a second signal exits 1 at once.
 * Nothing can hold an exit open: logs go to process.stdout, which an exit does not wait for (src/log.ts).
 */
function onShutdown(log: Logger, graceMs: number, stop: (phaseGraceMs: number) => Promise<void>): void {
  let stopping = false;
  const begin = (reason: Record<string, string>): void => {
    stopping = true;
    log.info({ ...reason, graceMs }, 'stopping');
    const watchdog = setTimeout(() => {
      log.error({ graceMs }, 'the orderly stop overran its grace period (PCM_SHUTDOWN_GRACE_MS); exiting now');
      process.exit(1);
    }, graceMs);
    watchdog.unref();
    // A stop waiting on something that can never happen (nothing left to run) is a failed stop, not a clean exit.
    process.once('beforeExit', () => {
      log.error('the orderly stop stalled with nothing left to run; exiting now');
      process.exit(1);
    });
    stop(Math.max(1, Math.floor(graceMs * 0.4))).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal; exiting now');
      process.exit(1);
    }
    begin({ signal });
  };
  stopOnOutputClosed = () => {
    if (!stopping) begin({ reason: 'stdout closed' });
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string' }, check: { type: 'boolean' }, token: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return void process.stdout.write(HELP.run);
  const config = configOrExit(values.config);
  if (values.check) {
    const { checkConfig } = await import('./commands/check.js');
    const lines = await checkConfig(config, { token: values.token === true });
    process.stdout.write('settings: ok\n');
    for (const line of lines) process.stdout.write(`${line.what}: ${line.ok ? 'ok' : 'PROBLEM'}: ${line.detail}\n`);
    process.exitCode = lines.find((l) => !l.ok)?.code ?? 0;
    return;
  }
  const log = createLogger(config.log.level);
  const { startSidecar } = await import('./sidecar.js');
  const sidecar = await startSidecar(config, log);
  onShutdown(log, config.shutdown.graceMs, (phaseGraceMs) => sidecar.stop(phaseGraceMs));
  // SIGHUP reads the endpoint catalogue and the rule settings again (a catalogue update, an override); a bad one
  // is logged and the running ones stay. Other settings, organisations and webhook subscriptions need a restart.
  process.on('SIGHUP', () => {
    let next: Config;
    try {
      next = loadConfig({ configFile: values.config });
    } catch (err) {
      return void log.error({ err: errorMessage(err) }, 'SIGHUP: the configuration does not hold; the running catalogue and rules stay');
    }
    sidecar.reload(next).catch((err: unknown) => log.error({ err: errorMessage(err) }, 'SIGHUP: could not reload; the running catalogue and rules stay'));
  });
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
      'auth-port': { type: 'string' },
      'token-expires-in': { type: 'string' },
      clients: { type: 'string' },
      'rate-limit': { type: 'string' },
      'no-retry-after': { type: 'boolean' },
      'pairing-delay-ms': { type: 'string' },
      'max-reports': { type: 'string' },
      state: { type: 'string' },
      faults: { type: 'string' },
      catalog: { type: 'string' },
      'error-codes': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void process.stdout.write(HELP.emulate);
  const errorCodes = values['error-codes'] ?? EMULATOR_DEFAULTS.errorCodesAs;
  if (errorCodes !== 'string' && errorCodes !== 'array') fail(`emulate: --error-codes must be "string" or "array", got "${errorCodes}"`, EX_USAGE);
  const read = (flag: 'cert' | 'key' | 'ca'): Buffer => {
    const file = values[flag];
    if (!file) fail(`emulate: --${flag} FILE is required (see --help)`, EX_USAGE);
    try {
      return readFileSync(file);
    } catch (err) {
      return fail(`emulate: --${flag}: cannot read ${file}: ${errorMessage(err)}`, EX_CONFIG);
    }
  };
  const number = (flag: 'port' | 'auth-port' | 'token-expires-in' | 'rate-limit' | 'pairing-delay-ms' | 'max-reports', fallback: number): number => {
    const value = values[flag];
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) fail(`emulate: --${flag} must be a whole number, got "${value}"`, EX_USAGE);
    return n;
  };
  let clients: Map<string, string> | undefined;
  if (values.clients) {
    try {
      const map = JSON.parse(readFileSync(values.clients, 'utf8')) as Record<string, string>;
      clients = new Map(Object.entries(map).map(([id, org]) => [id, String(org).toLowerCase()]));
    } catch (err) {
      fail(`emulate: --clients: ${values.clients}: ${errorMessage(err)}`, EX_CONFIG);
    }
  }
  const { loadFaultFile } = await import('./emulator/faults.js');
  const log = createLogger('info', 'pcm-emulator');
  const emulator = new PcmEmulator({
    ...EMULATOR_DEFAULTS,
    host: values.host ?? EMULATOR_DEFAULTS.host,
    port: number('port', EMULATOR_DEFAULTS.port),
    authPort: number('auth-port', EMULATOR_DEFAULTS.authPort),
    tokenExpiresIn: number('token-expires-in', EMULATOR_DEFAULTS.tokenExpiresIn),
    rateLimit: number('rate-limit', EMULATOR_DEFAULTS.rateLimit),
    retryAfter: !values['no-retry-after'],
    pairingDelayMs: number('pairing-delay-ms', EMULATOR_DEFAULTS.pairingDelayMs),
    maxReports: number('max-reports', EMULATOR_DEFAULTS.maxReports) || EMULATOR_DEFAULTS.maxReports,
    clients,
    stateFile: values.state,
    endpointsFile: values.catalog,
    errorCodesAs: errorCodes,
    faults: values.faults ? loadFaultFile(values.faults) : undefined,
    cert: read('cert'),
    key: read('key'),
    ca: read('ca'),
  });
  const url = await emulator.start();
  log.info({ url, authUrl: emulator.authUrl }, 'PCM emulator listening');
  onShutdown(log, shutdownGraceFromEnv(), () => emulator.stop());
}

async function demo(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: 'string' },
      port: { type: 'string' },
      'emulator-port': { type: 'string' },
      'emulator-auth-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void process.stdout.write(HELP.demo);
  const graceMs = shutdownGraceFromEnv();
  const log = createLogger((process.env.PCM_LOG_LEVEL as 'info' | undefined) ?? 'info');
  const { startDemo } = await import('./demo.js');
  const running = await startDemo(
    {
      dir: values.dir ?? '.pcm-demo',
      ingestPort: Number(values.port ?? 8431),
      emulatorPort: Number(values['emulator-port'] ?? EMULATOR_DEFAULTS.port),
      emulatorAuthPort: Number(values['emulator-auth-port'] ?? EMULATOR_DEFAULTS.authPort),
    },
    log,
  );
  process.stdout.write(running.banner);
  onShutdown(log, graceMs, (phaseGraceMs) => running.stop(phaseGraceMs));
}

/** Quarantined bodies refused as a whole are kept as text, not JSON. */
function parseOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function configOrExit(file: string | undefined): Config {
  return settingOrExit(() => loadConfig({ configFile: file }));
}

/** A setting that does not hold ends the command with the setting's name and EX_CONFIG. */
function settingOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) fail(`invalid configuration: ${err.message}`, EX_CONFIG);
    throw err;
  }
}

async function validate(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      org: { type: 'string', multiple: true },
      catalog: { type: 'string' },
      config: { type: 'string' },
      strict: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void process.stdout.write(HELP.validate);
  const file = positionals[0];
  if (!file) fail('validate: a FILE (or - for stdin) is required (see --help)', EX_USAGE);
  const config = values.config || process.env.PCM_API_URL || process.env.PCM_FORWARD_URL ? configOrExit(values.config) : null;
  const { summaryLines, validateFile } = await import('./commands/validate.js');
  const summary = await validateFile({
    file,
    orgIds: [...(values.org ?? []), ...(config?.organisations.map((o) => o.orgId) ?? [])],
    catalogFile: values.catalog ?? config?.catalog.file ?? process.env.PCM_ENDPOINT_CATALOG,
    rules: config?.rules ?? settingOrExit(() => loadRuleSettings()),
  });
  for (const line of [...summary.lines, ...summaryLines(summary)]) process.stdout.write(`${line}\n`);
  if (summary.invalid > 0 || (values.strict === true && summary.withFindings > 0)) process.exitCode = 1;
}

async function quarantine(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      limit: { type: 'string' },
      json: { type: 'boolean' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const action = positionals[0];
  if (values.help || !action) return void process.stdout.write(HELP.quarantine);
  if (action !== 'list' && action !== 'replay') fail(`quarantine: unknown action "${action}" (list or replay)`, EX_USAGE);
  const config = configOrExit(values.config);
  const { Spool } = await import('./spool/spool.js');
  const { quarantinedItems, describeQuarantined, replayQuarantine } = await import('./commands/quarantine.js');
  // Next to a running sidecar: its rows in flight are its own, not to be handed out again.
  const spool = new Spool({ path: config.spool.path, sync: config.spool.sync, maxBytes: config.spool.maxBytes, recoverInflight: false });
  try {
    if (action === 'list') {
      for (const item of quarantinedItems(spool, Number(values.limit ?? 100))) {
        process.stdout.write(`${values.json ? JSON.stringify({ ...item, item: parseOrText(item.item), problems: parseOrText(item.problems) }) : describeQuarantined(item)}\n`);
      }
      process.stdout.write(values.json ? '' : `${spool.counts().quarantined} items in quarantine\n`);
    } else {
      const summary = replayQuarantine(spool, config);
      process.stdout.write(
        `examined ${summary.examined}: moved ${summary.moved} to the spool, ${summary.duplicates} already spooled, ${summary.stillFailing} still failing\n`,
      );
    }
  } finally {
    await spool.close();
  }
}

async function deadletter(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      reason: { type: 'string' },
      since: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const action = positionals[0];
  if (values.help || !action) return void process.stdout.write(HELP.deadletter);
  if (action !== 'list' && action !== 'replay') fail(`deadletter: unknown action "${action}" (list or replay)`, EX_USAGE);
  const { DEAD_LETTER_REASONS, deadLetters, describeDeadLetter, replayDeadLetters } = await import('./commands/deadletter.js');
  const reason = DEAD_LETTER_REASONS.find((r) => r === values.reason);
  if (values.reason !== undefined && reason === undefined) fail(`deadletter: --reason must be one of ${DEAD_LETTER_REASONS.join(', ')}`, EX_USAGE);
  const since = values.since === undefined ? undefined : Date.parse(values.since);
  if (since !== undefined && Number.isNaN(since)) fail(`deadletter: --since "${values.since}" is not a time (ISO 8601, e.g. 2026-12-01T08:00:00Z)`, EX_USAGE);
  const config = configOrExit(values.config);
  const { Spool } = await import('./spool/spool.js');
  // Next to a running sidecar: its rows in flight are its own, not to be handed out again.
  const spool = new Spool({ path: config.spool.path, sync: config.spool.sync, maxBytes: config.spool.maxBytes, recoverInflight: false });
  try {
    const filter = { reason, since };
    if (action === 'list') {
      let n = 0;
      for (const d of deadLetters(spool, filter, Number(values.limit ?? 100))) {
        n++;
        process.stdout.write(`${values.json ? JSON.stringify({ ...d, body: parseOrText(d.body) }) : describeDeadLetter(d)}\n`);
      }
      if (!values.json) process.stdout.write(`${n} dead letters listed\n`);
    } else {
      const summary = replayDeadLetters(spool, config, filter);
      process.stdout.write(
        `examined ${summary.examined}: stored ${summary.stored} again, ${summary.duplicates} already stored, ${summary.stillFailing} still refused by validation\n`,
      );
    }
  } finally {
    await spool.close();
  }
}

async function catalog(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { catalog: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return void process.stdout.write(HELP.catalog);
  const { loadCatalog } = await import('./report/catalog.js');
  const active = loadCatalog(values.catalog ?? (process.env.PCM_ENDPOINT_CATALOG || undefined));
  if (values.json) return void process.stdout.write(`${JSON.stringify(active, null, 2)}\n`);
  process.stdout.write(`endpoint catalogue ${active.version}: ${active.private.length} private, ${active.opendata.length} opendata\n`);
  for (const [stream, entries] of [['private', active.private], ['opendata', active.opendata]] as const) {
    process.stdout.write(`\n${stream}:\n`);
    for (const e of entries) process.stdout.write(`  ${e.template}  [${e.api}, ${e.since}]${e.note ? `  (${e.note})` : ''}\n`);
  }
}

async function rules(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return void process.stdout.write(HELP.rules);
  const { RULES } = await import('./report/rules.js');
  if (values.json) return void process.stdout.write(`${JSON.stringify(RULES, null, 2)}\n`);
  for (const severity of ['discard', 'quality'] as const) {
    process.stdout.write(`${severity}:\n`);
    for (const [id, rule] of Object.entries(RULES)) {
      if (rule.severity !== severity) continue;
      process.stdout.write(`  ${id}  ${rule.source}${'unclear' in rule ? ` [unclear: ${rule.unclear}]` : ''}${rule.overridable ? '' : ' [not overridable]'}\n`);
    }
  }
}

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = { run, emulate, demo, validate, quarantine, deadletter, catalog, rules };

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-V' || command === 'version') return void process.stdout.write(`pcm-sidecar ${packageVersion()}\n`);
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP.main);
    if (!command) process.exitCode = EX_USAGE;
    return;
  }
  const handler = COMMANDS[command];
  if (!handler) fail(`unknown command "${command}"\n\n${HELP.main}`, EX_USAGE);
  await handler(rest);
}

process.stdout.on('error', onOutputClosed);
process.stderr.on('error', onOutputClosed);

main(process.argv.slice(2)).catch((err: unknown) => {
  // A bad catalogue or fault file is a setting like any other: the same exit code as an invalid configuration.
  const settingErrors = new Set(['PCM_CATALOG_INVALID', 'PCM_EMULATOR_FAULTS_INVALID', 'PCM_CONFIG_INVALID']);
  if (err instanceof SidecarError) fail(`${err.code}: ${err.message}`, settingErrors.has(err.code) ? EX_CONFIG : 1);
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') fail(`cannot listen: ${errorMessage(err)} (is another instance running?)`, 1);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') fail(`${errorMessage(err)} (see --help)`, EX_USAGE);
  fail(errorMessage(err), 1);
});
