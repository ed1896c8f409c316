import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { REDACTED, SECRET_KEY_NAMES } from './report/secrets.js';

export type { Logger };

/** Log lines waiting for a stdout that does not read are capped at this; past it, lines are dropped. */
const MAX_PENDING_LOG_BYTES = 8 * 1024 * 1024;

/**
 * Where log lines go: process.stdout, and an exit never waits for it. pino's default destination (sonic-boom)
 * flushes synchronously on exit and retries EAGAIN and EPIPE there without end, so a process whose stdout reader had
 * gone, or stopped reading, never finished exiting — not even on a second signal. process.stdout queues in memory
 * (capped here) and an exit drops what is still queued; a closed stdout is an 'error' event the CLI handles.
 */
export function stdoutDestination(): DestinationStream {
  return {
    write(line: string): void {
      const out = process.stdout;
      if (out.destroyed || !out.writable || out.writableLength > MAX_PENDING_LOG_BYTES) return;
      out.write(line);
    },
  };
}

/**
 * Field names whose value is a secret, wherever a log line puts them: those gateways log beside a call (the same list
 * the quarantine redacts, src/report/secrets.ts) and the sidecar's own (the key passphrase, the OAuth2 client secret,
 * the tokenId pepper, bearer tokens in their usual spellings).
 */
const SECRET_FIELDS = [
  ...SECRET_KEY_NAMES,
  'token',
  'accessToken',
  'refreshToken',
  'idToken',
  'bearer',
  'Authorization',
  'Cookie',
  'apiKey',
  'keyPassphrase',
  'passphrase',
  'clientSecret',
  'pepper',
];

/** A field at the top of a line, inside an object of it, and one level further (a request's `headers`). */
function redactPaths(): string[] {
  const names = [...new Set(SECRET_FIELDS)];
  return names.flatMap((name) => {
    const plain = /^[A-Za-z_$][\w$]*$/.test(name);
    const key = plain ? name : `["${name}"]`;
    const nested = plain ? `.${name}` : key;
    return [key, `*${nested}`, `*.*${nested}`];
  });
}

/**
 * `Bearer …` inside a message or a string field (an error's text quoting a request): redacted too. A lowercase word
 * after it is prose ("the bearer token is …"), not a token.
 */
const BEARER_VALUE = /\b([Bb]earer\s+|BEARER\s+)(?![a-z]{1,20}(?![\w\-.~+/=]))[A-Za-z0-9\-._~+/]+=*/g;

function scrub(text: string): string {
  return /bearer/i.test(text) ? text.replace(BEARER_VALUE, `$1${REDACTED}`) : text;
}

/**
 * JSON logs on stdout (or `destination`). A secret does not reach a line by construction: secret-named fields are
 * censored wherever they are nested up to two levels (pino `redact`), and bearer tokens written into messages or
 * string fields are cut out; beyond that, the code passes no secret to the logger (test/security/logs.test.ts).
 */
export function createLogger(level: LevelWithSilent, name = 'pcm-sidecar', destination: DestinationStream = stdoutDestination()): Logger {
  return pino(
    {
      name,
      level,
      redact: { paths: redactPaths(), censor: REDACTED },
      formatters: {
        log(object: Record<string, unknown>): Record<string, unknown> {
          // A copy only when something changes: the object is the caller's, which it may log again.
          let out = object;
          for (const [key, value] of Object.entries(object)) {
            if (typeof value !== 'string') continue;
            const clean = scrub(value);
            if (clean === value) continue;
            if (out === object) out = { ...object };
            out[key] = clean;
          }
          return out;
        },
      },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((arg) => (typeof arg === 'string' ? scrub(arg) : arg)) as Parameters<typeof method>);
        },
      },
    },
    destination,
  );
}
