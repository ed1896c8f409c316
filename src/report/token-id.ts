import { createHash } from 'node:crypto';
import { REDACTED } from './secrets.js';

/**
 * tokenId (pcm-rules.md §4.5): base64url(SHA-256(token + pepper)), first 9 bytes → 12 characters. The pepper is the
 * institution's secret (128–256 bits), so the PCM can tell which reports share a token without ever seeing it.
 */

export const PEPPER_MIN_BYTES = 16;
/** 256 bits as raw bytes, or as 64 hex characters. */
export const PEPPER_MAX_BYTES = 64;

export function tokenIdOf(token: string, pepper: Uint8Array): string {
  return createHash('sha256').update(token, 'utf8').update(pepper).digest().subarray(0, 9).toString('base64url');
}

/** The token of an `Authorization: Bearer …` value, or the value itself when it has no scheme; null for other schemes. */
export function bearerToken(value: string): string | null {
  const text = value.trim();
  const space = text.indexOf(' ');
  // '' and a scheme without a token ("Bearer ") name no token; nor does a value the quarantine redacted.
  if (space < 0) return text === '' || text.toLowerCase() === 'bearer' || text === REDACTED ? null : text;
  if (text.slice(0, space).toLowerCase() !== 'bearer') return null;
  const token = text.slice(space + 1).trim();
  return token === '' ? null : token;
}
