import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { PEPPER_MAX_BYTES, PEPPER_MIN_BYTES } from '../report/token-id.js';

/**
 * The tokenId pepper (pcm-rules.md §4.5), read once at start from a file mounted from a Secret. A text pepper
 * (printable ASCII, e.g. `openssl rand -hex 32 > pepper`) is used without the one trailing newline an editor or
 * `echo` adds; any other file is binary and used byte for byte — a random byte that happens to be 0x0a is part of
 * it. Every system of the institution that computes tokenIds must read the file the same way.
 * The value never leaves this process: it is not logged, stored or exported.
 */
export function readTokenIdPepper(file: string | undefined, setting = 'PCM_TOKEN_ID_PEPPER_FILE'): Uint8Array | null {
  if (file === undefined) return null;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new ConfigError(setting, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end--;
  if (end > 0 && bytes[end - 1] === 0x0d) end--;
  const text = bytes.subarray(0, end).every((b) => b >= 0x20 && b <= 0x7e);
  const pepper = text ? bytes.subarray(0, end) : bytes;
  if (pepper.length < PEPPER_MIN_BYTES || pepper.length > PEPPER_MAX_BYTES) {
    throw new ConfigError(
      setting,
      `the pepper must be ${PEPPER_MIN_BYTES * 8}–${PEPPER_MAX_BYTES * 8} bits (${PEPPER_MIN_BYTES}–${PEPPER_MAX_BYTES} bytes); ${file} holds ${pepper.length} bytes`,
    );
  }
  return new Uint8Array(pepper);
}
