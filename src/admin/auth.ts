import { existsSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import { bearerToken, isKnownToken, readTokenFile, tokenDigest } from '../config/token-file.js';
import { ConfigError } from '../errors.js';

/**
 * Who may use the admin API: a request carrying one of the bearer tokens of PCM_ADMIN_TOKEN_FILE (one a line, read as
 * PCM_INGEST_TOKEN_FILE is: src/config/token-file.ts), compared as SHA-256 digests in constant time so neither which
 * token nor how much of it matched shows in the time taken. The file is read at start (a bad one stops the start)
 * and again when it changes, so a rotated Secret needs no restart; one that cannot be read then keeps the last tokens.
 */

const SETTING = 'PCM_ADMIN_TOKEN_FILE (admin.tokenFile)';

function digestsOf(file: string): Buffer[] {
  const read = readTokenFile(file);
  if ('problem' in read) throw new ConfigError(SETTING, read.problem);
  return read.tokens.map(tokenDigest);
}

function stampOf(file: string): string {
  return existsSync(file) ? String(statSync(file).mtimeMs) : 'missing';
}

export class AdminAuth {
  private digests: Buffer[];
  private stamp: string;
  private problem: string | null = null;

  /** Throws ConfigError when the file holds no usable token. */
  constructor(
    private readonly file: string,
    private readonly log: Logger,
  ) {
    this.stamp = stampOf(file);
    this.digests = digestsOf(file);
  }

  /** null: the request may go on; otherwise why not, for a 401. */
  refusal(authorization: string | undefined): string | null {
    this.refresh();
    const given = bearerToken(authorization);
    if (given === null) return 'Unauthorized: a bearer token of PCM_ADMIN_TOKEN_FILE is required (Authorization: Bearer <token>)';
    return isKnownToken(this.digests, given) ? null : 'Unauthorized: the bearer token is not one of PCM_ADMIN_TOKEN_FILE';
  }

  /** A changed file is read again; one that cannot be used is logged once and the previous tokens stay. */
  private refresh(): void {
    const stamp = stampOf(this.file);
    if (stamp === this.stamp) return;
    try {
      this.digests = digestsOf(this.file);
      this.stamp = stamp;
      this.problem = null;
      this.log.info('the admin token file changed; loaded it again');
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.problem) this.log.error({ err: message }, 'cannot load the changed admin token file; the previous tokens stay in use');
      this.problem = message;
    }
  }
}
