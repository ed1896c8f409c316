import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * Bearer tokens between an agent and its aggregator, read from a file mounted from a Secret: one token a line (an
 * aggregator may list several, so a token can be rotated without a flag day), blank lines and the line ends an editor
 * or `echo` adds ignored. A token is what an Authorization header can carry (visible ASCII, no spaces), at least
 * TOKEN_MIN_CHARS long, so a guessable one is refused (`openssl rand -hex 32` makes a good one).
 * The values never leave this process: they are not logged, stored or exported.
 */

/** Shortest token taken: 16 characters of hex are 64 bits, the least a network-reachable secret should have. */
export const TOKEN_MIN_CHARS = 16;

const TOKEN_SHAPE = /^[\x21-\x7e]+$/;

/** The tokens in `file`, or the reason there are none usable (for the caller's own error and setting name). */
export function readTokenFile(file: string): { tokens: string[] } | { problem: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { problem: `${code === 'ENOENT' ? 'file does not exist' : `file cannot be read (${code ?? 'error'})`}: ${file}` };
  }
  const tokens = text
    .split('\n')
    .map((line) => line.replace(/\r$/, '').trim())
    .filter((line) => line !== '');
  if (tokens.length === 0) return { problem: `${file} holds no token` };
  // The line number, never the line: it may be a token with a typo.
  const bad = tokens.findIndex((t) => !TOKEN_SHAPE.test(t) || t.length < TOKEN_MIN_CHARS);
  if (bad >= 0) {
    return { problem: `token ${bad + 1} of ${file} is not ${TOKEN_MIN_CHARS} or more visible ASCII characters without spaces` };
  }
  return { tokens };
}

/** SHA-256 of a token: compared as equal-length digests, so neither a length nor a prefix shows in the time taken. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

const BEARER = /^Bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i;

/** The token of an `Authorization: Bearer <token>` header; null when there is none. */
export function bearerToken(header: string | undefined): string | null {
  const match = typeof header === 'string' ? BEARER.exec(header) : null;
  return match ? (match[1] as string) : null;
}

/** Whether `given` is one of the tokens whose digests are `known`; every one is compared, in constant time each. */
export function isKnownToken(known: readonly Buffer[], given: string): boolean {
  const digest = tokenDigest(given);
  let ok = false;
  for (const k of known) ok = timingSafeEqual(digest, k) || ok;
  return ok;
}
