import { readFileSync } from 'node:fs';
import { request, type Dispatcher } from '../http-client.js';
import { AlertDeliveryError, errorMessage } from '../errors.js';

/**
 * A bearer token for a receiver protected by OAuth2 (seed 004): client_credentials at `tokenUrl` with the client id
 * and secret in HTTP Basic auth (seed 001: `Authorization: Basic base64(CLIENT_ID:CLIENT_SECRET)`), the grant type
 * form-encoded in the body (RFC 6749 §4.4.2; a tokenUrl with `?grant_type=client_credentials`, as seed 001 writes it,
 * keeps its query). The token is cached until shortly before `expires_in` runs out, shared by concurrent callers, and
 * dropped when the receiver answers 401. The secret is read from its file at each request (a rotated Secret needs
 * no restart) and is never logged or stored; neither is the token.
 */

export interface OAuth2Settings {
  tokenUrl: string;
  clientId: string;
  clientSecretFile: string;
  scope?: string | undefined;
}

/** A token is renewed this long before it expires, or at a tenth of its lifetime if that is shorter. */
const REFRESH_MARGIN_MS = 30_000;
/** Of a token endpoint's answer, at most this much is read. */
const MAX_TOKEN_ANSWER_BYTES = 64 * 1024;

interface Cached {
  value: string;
  refreshAt: number;
}

function readSecret(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AlertDeliveryError('PCM_ALERT_SECRET_UNREADABLE', `cannot read the OAuth2 client secret file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  // As `echo` or a Kubernetes Secret written by hand leaves it: one trailing newline is not part of the secret.
  return text.replace(/\r?\n$/, '');
}

/** The OAuth2 `error` code of a refusal (invalid_client, say): a word of the protocol, safe to show. */
function oauthErrorOf(text: string): string | null {
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    return typeof parsed.error === 'string' && /^[\x20-\x7e]{1,64}$/.test(parsed.error) ? parsed.error : null;
  } catch {
    return null;
  }
}

export class OAuth2Client {
  /** Tokens obtained so far (tests and status). */
  fetched = 0;
  private cached: Cached | null = null;
  private inflight: Promise<string> | null = null;

  constructor(
    private readonly settings: OAuth2Settings,
    private readonly dispatcher: Dispatcher,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async token(signal?: AbortSignal): Promise<string> {
    if (this.cached && this.now() < this.cached.refreshAt) return this.cached.value;
    this.inflight ??= this.fetch(signal).finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  /** The receiver refused `token`: the next call asks for a new one. */
  invalidate(token: string): void {
    if (this.cached?.value === token) this.cached = null;
  }

  private async fetch(signal?: AbortSignal): Promise<string> {
    const secret = readSecret(this.settings.clientSecretFile);
    const basic = Buffer.from(`${this.settings.clientId}:${secret}`, 'utf8').toString('base64');
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (this.settings.scope) form.set('scope', this.settings.scope);
    let status: number;
    let text: string;
    try {
      const response = await request(this.settings.tokenUrl, {
        method: 'POST',
        dispatcher: this.dispatcher,
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal,
      });
      status = response.statusCode;
      text = await readLimited(response.body, MAX_TOKEN_ANSWER_BYTES);
    } catch (err) {
      throw new AlertDeliveryError('PCM_ALERT_TOKEN_FAILED', `token endpoint unreachable: ${errorMessage(err)}`, undefined, { cause: err });
    }
    if (status >= 400 && status < 500 && status !== 429) {
      const code = oauthErrorOf(text);
      throw new AlertDeliveryError('PCM_ALERT_TOKEN_REFUSED', `token endpoint refused the client: ${status}${code ? ` ${code}` : ''}`, status);
    }
    if (status !== 200) throw new AlertDeliveryError('PCM_ALERT_TOKEN_FAILED', `token endpoint answered ${status}`, status);
    let parsed: { access_token?: unknown; token_type?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new AlertDeliveryError('PCM_ALERT_TOKEN_FAILED', 'token endpoint answered 200 without JSON', status);
    }
    if (typeof parsed.access_token !== 'string' || parsed.access_token === '') {
      throw new AlertDeliveryError('PCM_ALERT_TOKEN_FAILED', 'token endpoint answered 200 without access_token', status);
    }
    if (typeof parsed.token_type === 'string' && parsed.token_type.toLowerCase() !== 'bearer') {
      throw new AlertDeliveryError('PCM_ALERT_TOKEN_FAILED', `token endpoint issued a ${parsed.token_type.slice(0, 32)} token, not Bearer`, status);
    }
    // Seed 001 shows expires_in as a string; RFC 6749 as a number. Without it, the token serves until a 401.
    const lifetimeMs = Number(parsed.expires_in) * 1000;
    const now = this.now();
    const refreshAt = Number.isFinite(lifetimeMs) && lifetimeMs > 0 ? now + lifetimeMs - Math.min(REFRESH_MARGIN_MS, lifetimeMs / 10) : Number.POSITIVE_INFINITY;
    this.cached = { value: parsed.access_token, refreshAt };
    this.fetched++;
    return parsed.access_token;
  }
}

/** The body as text, at most `max` bytes (the rest is dropped and the connection reused or closed). */
export async function readLimited(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    if (size + buf.length > max) {
      chunks.push(buf.subarray(0, max - size));
      size = max;
      body.destroy();
      break;
    }
    chunks.push(buf);
    size += buf.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}
