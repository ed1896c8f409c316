import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { errorMessage } from '../errors.js';
import { createLogger } from '../log.js';
import { EMULATOR_DEFAULTS, PcmEmulator } from '../emulator/emulator.js';
import { EX_CONFIG, EX_USAGE, fail, type Command } from './common.js';
import { shutdownGraceFromEnv } from './grace-env.js';
import { onShutdown } from './shutdown.js';

const HELP = `Usage: pcm-sidecar emulate --cert FILE --key FILE --ca FILE [options]

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
`;

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
  if (values.help) return void process.stdout.write(HELP);
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
  const { loadFaultFile } = await import('../emulator/faults.js');
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

export const command: Command = { help: HELP, run: emulate };
