import { existsSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createSecureContext, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { bearerToken, isKnownToken, readTokenFile, tokenDigest } from '../config/token-file.js';
import { ConfigError, errorMessage } from '../errors.js';

/**
 * Who may post to an aggregator's ingest: remote agents (README, "Topologies") with the shared bearer token
 * (PCM_INGEST_TOKEN_FILE) and/or a client certificate the ingest's client CA signs (PCM_INGEST_CLIENT_CA_FILE, over
 * PCM_INGEST_TLS_*). What passes is reported under the aggregator's organisations, so without either the ingest
 * belongs on loopback (the default). The ingest's /healthz stays open (server.ts): a kubelet probe carries neither
 * (readiness and metrics are on the admin listener, src/admin/). The TLS handshake takes a connection without a
 * certificate only where no client CA is set; a POST without the token is answered 401.
 *
 * The files are read at start (a missing or bad one stops the start, naming the setting: nothing is lost, the
 * agents keep spooling) and again when they change, so a rotated Secret needs no restart; a file that cannot be read
 * then keeps what was loaded before.
 */

export interface IngestTls {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
}

export interface Denial {
  status: 401;
  error: string;
  code: 'PCM_INGEST_UNAUTHORIZED';
  headers: Record<string, string>;
}

type IngestSettings = Pick<Config['ingest'], 'tokenFile' | 'tlsCertFile' | 'tlsKeyFile' | 'clientCaFile'>;

const SETTINGS = {
  tokenFile: 'PCM_INGEST_TOKEN_FILE (ingest.tokenFile)',
  tlsCertFile: 'PCM_INGEST_TLS_CERT_FILE (ingest.tlsCertFile)',
  tlsKeyFile: 'PCM_INGEST_TLS_KEY_FILE (ingest.tlsKeyFile)',
  clientCaFile: 'PCM_INGEST_CLIENT_CA_FILE (ingest.clientCaFile)',
} as const;

function readFile(key: keyof typeof SETTINGS, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(SETTINGS[key], `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

interface Loaded {
  tokenDigests: Buffer[] | null;
  tls: IngestTls | null;
}

/** Reads every file now; throws ConfigError naming the setting of the first one that cannot be used. */
function loadFiles(settings: IngestSettings): Loaded {
  const { tokenFile, tlsCertFile, tlsKeyFile, clientCaFile } = settings;
  let tokenDigests: Buffer[] | null = null;
  if (tokenFile !== undefined) {
    const read = readTokenFile(tokenFile);
    if ('problem' in read) throw new ConfigError(SETTINGS.tokenFile, read.problem);
    tokenDigests = read.tokens.map(tokenDigest);
  }
  if (tlsCertFile === undefined || tlsKeyFile === undefined) return { tokenDigests, tls: null };
  const tls: IngestTls = {
    cert: readFile('tlsCertFile', tlsCertFile),
    key: readFile('tlsKeyFile', tlsKeyFile),
    ca: clientCaFile === undefined ? undefined : readFile('clientCaFile', clientCaFile),
  };
  try {
    createSecureContext(tls);
  } catch (err) {
    throw new ConfigError(`${SETTINGS.tlsCertFile} / ${SETTINGS.tlsKeyFile}`, `not a usable certificate, key and CA: ${(err as Error).message}`);
  }
  return { tokenDigests, tls };
}

function sameTls(a: IngestTls | null, b: IngestTls | null): boolean {
  if (a === null || b === null) return a === b;
  return a.cert.equals(b.cert) && a.key.equals(b.key) && (a.ca === undefined ? b.ca === undefined : b.ca !== undefined && a.ca.equals(b.ca));
}

export class IngestGuard {
  private loaded: Loaded;
  private stamp: string;
  private problem: string | null = null;

  /** Throws ConfigError when a file cannot be used. */
  constructor(private readonly settings: IngestSettings) {
    this.stamp = this.currentStamp();
    this.loaded = loadFiles(settings);
  }

  /** Whether a request must prove anything at all. */
  get guarded(): boolean {
    return this.loaded.tokenDigests !== null || this.settings.clientCaFile !== undefined;
  }

  /** TLS for the listener; null: plain HTTP. */
  get tls(): IngestTls | null {
    return this.loaded.tls;
  }

  /** null: the request may go on; otherwise what to answer. */
  authorize(req: IncomingMessage): Denial | null {
    if (this.settings.clientCaFile !== undefined) {
      const socket = req.socket as TLSSocket;
      // The handshake already refused a client without a verified certificate; checked again here so that no path
      // (a resumed TLS 1.3 session counts as `authorized` without a peer certificate) lets one through.
      const presented = socket.authorized === true && Object.keys(socket.getPeerCertificate()).length > 0;
      if (!presented) {
        const why = socket.authorizationError ? ` (${String(socket.authorizationError)})` : '';
        return deny(`Unauthorized: a client certificate signed by the ingest's client CA (PCM_INGEST_CLIENT_CA_FILE) is required${why}`, false);
      }
    }
    const digests = this.loaded.tokenDigests;
    if (digests === null) return null;
    const given = bearerToken(req.headers.authorization);
    if (given === null) return deny('Unauthorized: a bearer token is required (Authorization: Bearer <the token of PCM_FORWARD_TOKEN_FILE>)', true);
    // Equal-length digests, every configured token compared: the time taken says nothing about which one, or how close.
    return isKnownToken(digests, given) ? null : deny('Unauthorized: the bearer token is not one this ingest accepts', true);
  }

  /**
   * Reads the files again if one changed. Returns the new TLS material when it changed (for setSecureContext); a
   * file that cannot be used now is logged once and the previous values stay in use.
   */
  refresh(log: Logger): IngestTls | null {
    const stamp = this.currentStamp();
    if (stamp === this.stamp) return null;
    try {
      const loaded = loadFiles(this.settings);
      const tlsChanged = !sameTls(loaded.tls, this.loaded.tls);
      this.loaded = loaded;
      this.stamp = stamp;
      this.problem = null;
      log.info({ tlsChanged }, 'ingest token or TLS files changed; loaded them again');
      return tlsChanged ? loaded.tls : null;
    } catch (err) {
      const message = errorMessage(err);
      if (message !== this.problem) log.error({ err: message }, 'cannot load the changed ingest token or TLS files; the previous ones stay in use');
      this.problem = message;
      return null;
    }
  }

  private currentStamp(): string {
    const { tokenFile, tlsCertFile, tlsKeyFile, clientCaFile } = this.settings;
    return [tokenFile, tlsCertFile, tlsKeyFile, clientCaFile].map((f) => (f === undefined ? '-' : existsSync(f) ? statSync(f).mtimeMs : 'missing')).join('|');
  }
}

function deny(error: string, bearer: boolean): Denial {
  return { status: 401, error, code: 'PCM_INGEST_UNAUTHORIZED', headers: bearer ? { 'www-authenticate': 'Bearer' } : {} };
}
