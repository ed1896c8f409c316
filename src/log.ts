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

const SECRET_FIELD_NAMES: ReadonlySet<string> = new Set(SECRET_FIELDS.map((name) => name.toLowerCase()));

/** The spellings a field name turns up in: as listed, lower, UPPER, and Capitalised per dash (`Proxy-Authorization`). */
function spellings(name: string): string[] {
  const capitalised = name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('-');
  return [name, name.toLowerCase(), name.toUpperCase(), capitalised];
}

/** A field at the top of a line, inside an object of it, and one level further (a request's `headers`). */
function redactPaths(): string[] {
  const names = [...new Set(SECRET_FIELDS.flatMap(spellings))];
  return names.flatMap((name) => {
    const plain = /^[A-Za-z_$][\w$]*$/.test(name);
    const key = plain ? name : `["${name}"]`;
    const nested = plain ? `.${name}` : key;
    return [key, `*${nested}`, `*.*${nested}`];
  });
}

/** Words that follow "bearer" in prose ("the bearer token is …"), which are not a token. */
const PROSE_AFTER_BEARER = ['token', 'tokens', 'auth', 'authentication', 'authorization', 'header', 'scheme', 'credentials', 'is', 'was', 'and', 'or', 'of', 'the', 'required', 'missing', 'given'];

/** `Bearer …` inside a message or a string field (an error's text quoting a request). */
const BEARER_IN_TEXT = new RegExp(`\\b(bearer\\s+)(?!(?:${PROSE_AFTER_BEARER.join('|')})(?![\\w\\-.~+/=]))[A-Za-z0-9\\-._~+/]+=*`, 'gi');
/**
 * `Basic <base64 of id:secret>` as an Authorization header carries it (OAuth2 client credentials, seed 001), the scheme
 * in any case; the credentials hold a digit, a capital or base64 punctuation, which a word of prose does not.
 */
const BASIC_IN_TEXT = /\b([Bb][Aa][Ss][Ii][Cc]\s+)(?=[A-Za-z0-9+/]*[0-9A-Z+/=])[A-Za-z0-9+/]{8,}=*/g;

function scrub(text: string): string {
  let out = text;
  if (/bearer/i.test(out)) out = out.replace(BEARER_IN_TEXT, `$1${REDACTED}`);
  if (/basic/i.test(out)) out = out.replace(BASIC_IN_TEXT, `$1${REDACTED}`);
  return out;
}

/** Levels of an error's own fields scrubbed (its response, its response's headers, …); deeper ones are dropped. */
const MAX_ERROR_DEPTH = 4;

/**
 * A value of an error as it is logged: strings scrubbed, secret-named fields censored, at any depth up to
 * MAX_ERROR_DEPTH; an object already on the path (a cause that loops) is not followed again.
 */
function scrubbedValue(value: unknown, depth: number, seen: Set<object>): unknown {
  if (typeof value === 'string') return scrub(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value) || depth > MAX_ERROR_DEPTH) return '[not logged]';
  seen.add(value);
  const source = value instanceof Error ? (pino.stdSerializers.err(value) as unknown as Record<string, unknown>) : (value as Record<string, unknown>);
  const out: Record<string, unknown> | unknown[] = Array.isArray(source) ? [] : {};
  for (const [key, field] of Object.entries(source)) {
    const clean = SECRET_FIELD_NAMES.has(key.toLowerCase()) ? REDACTED : scrubbedValue(field, depth + 1, seen);
    if (Array.isArray(out)) out.push(clean);
    else out[key] = clean;
  }
  if (value instanceof Error && value.cause !== undefined && !Array.isArray(out)) out.cause = scrubbedValue(value.cause, depth + 1, seen);
  seen.delete(value);
  return out;
}

/** An error as pino's serializer writes it, every string in it scrubbed, secret-named fields censored, loops cut. */
function scrubbedError(err: unknown): unknown {
  return scrubbedValue(err, 0, new Set());
}

/**
 * JSON logs on stdout (or `destination`). A secret does not reach a line by construction: secret-named fields (in
 * their usual spellings) are censored wherever they are nested up to two levels (pino `redact`), and Bearer and
 * Basic credentials written into messages, string fields and errors (message, stack, causes) are cut out; deeper
 * than that, the code passes no secret to the logger (test/security/logs.test.ts).
 */
export function createLogger(level: LevelWithSilent, name = 'pcm-sidecar', destination: DestinationStream = stdoutDestination()): Logger {
  return pino(
    {
      name,
      level,
      redact: { paths: redactPaths(), censor: REDACTED },
      serializers: { err: scrubbedError },
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
          // `log.error(err)`: pino would take its message as the line's text as it is.
          const [first, ...rest] = args;
          const spelled = first instanceof Error ? [{ err: first }, ...(rest.length > 0 ? rest : [first.message])] : args;
          method.apply(this, spelled.map((arg) => (typeof arg === 'string' ? scrub(arg) : arg)) as Parameters<typeof method>);
        },
      },
    },
    destination,
  );
}
