import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { Agent, request, type Dispatcher } from '../http-client.js';
import { TokenError } from '../errors.js';
import { parseRetryAfter } from './backoff.js';
import type { ClientCredential } from './credentials.js';
import type { RateBudget } from './rate-budget.js';

/**
 * Bearer tokens from `POST {authUrl}/token/` over mTLS (client_credentials, no secret: the certificate authenticates).
 * A token is reused until a safety margin before it expires; concurrent callers share one request; a token the
 * report API refused is dropped once, so a burst of 401s causes a single refresh.
 */

export interface TokenOptions {
  authUrl: string;
  requestFormat: 'json' | 'form';
  refreshMarginMs: number;
  timeoutMs: number;
  connectTimeoutMs: number;
  ca: Buffer | undefined;
  /** The process's budget of PCM calls: token requests spend permits like report POSTs do. */
  budget: RateBudget;
  now?: () => number;
  /** Told the outcome of each refresh (one /token/ call, with its /token-fresh/ follow-up): readiness and metrics. */
  onRefresh?: (outcome: TokenRefresh) => void;
  /** Token fetches (debug) and reuses (trace), never the token itself. */
  log?: Logger;
}

/**
 * `refused`: the token endpoint answered a 4xx other than 429 (400 invalid_client, 401 "ClientId is not valid to the
 * orgId"), which waiting does not fix; `error`: the network, a 5xx, a 429 or an unusable 200, which it may.
 */
export type TokenRefresh = { result: 'ok'; expiresAt: number } | { result: 'refused' | 'error'; error: TokenError };

interface CachedToken {
  value: string;
  refreshAt: number;
  expiresAt: number;
}

export class TokenProvider {
  /** Tokens obtained so far; a metric and a test hook. */
  fetched = 0;
  private cached: CachedToken | null = null;
  private refused: string | null = null;
  private inflight: Promise<string> | null = null;
  private readonly agent: Agent;
  private readonly now: () => number;

  constructor(
    private readonly credential: ClientCredential,
    private readonly options: TokenOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.agent = new Agent({
      connect: {
        // Built once: parsing the CA bundle (Node's roots plus PCM_CA_FILE) per connection cost more than the request.
        secureContext: createSecureContext({ cert: credential.cert, key: credential.key, passphrase: credential.passphrase, ca: options.ca }),
        rejectUnauthorized: true,
        timeout: options.connectTimeoutMs,
      },
      // One token per few hours: no point keeping the mTLS connection open.
      keepAliveTimeout: 1000,
    });
  }

  /** When the token in use expires (epoch ms); null before the first one and after the report API refused it. */
  get expiresAt(): number | null {
    return this.cached?.expiresAt ?? null;
  }

  /** `signal` ends a wait for the rate budget (RateWaitAbortedError); callers sharing one fetch share the first signal. */
  async get(signal?: AbortSignal): Promise<string> {
    if (this.cached && this.now() < this.cached.refreshAt) {
      this.options.log?.trace({ expiresInMs: this.cached.expiresAt - this.now() }, 'token: reused');
      return this.cached.value;
    }
    if (!this.inflight) {
      this.inflight = this.refresh(signal).finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  /**
   * The report API refused `token`: forget it, unless a newer one already replaced it. If `/token/` hands the same
   * token back (since release 2025D it returns the organisation's cached one), the next fetch asks `/token-fresh/`.
   */
  invalidate(token: string): void {
    this.refused = token;
    if (this.cached?.value === token) this.cached = null;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async refresh(signal: AbortSignal | undefined): Promise<string> {
    const report = this.options.onRefresh;
    try {
      const token = await this.fetch(signal);
      report?.({ result: 'ok', expiresAt: this.cached?.expiresAt ?? this.now() });
      return token;
    } catch (err) {
      if (err instanceof TokenError) report?.({ result: err.retryable ? 'error' : 'refused', error: err });
      throw err;
    }
  }

  private async fetch(signal: AbortSignal | undefined): Promise<string> {
    const token = await this.request('/token/', signal);
    if (token !== this.refused) return token;
    try {
      return await this.request('/token-fresh/', signal);
    } catch (err) {
      // A PCM without /token-fresh/ (before release 2026A): the same token is all there is.
      if (err instanceof TokenError && err.status === 404) return token;
      throw err;
    }
  }

  private async request(path: '/token/' | '/token-fresh/', signal: AbortSignal | undefined): Promise<string> {
    await this.options.budget.take('token', signal);
    const { clientId } = this.credential;
    const json = this.options.requestFormat === 'json';
    const body = json
      ? JSON.stringify({ client_id: clientId, grant_type: 'client_credentials' })
      : new URLSearchParams({ client_id: clientId, grant_type: 'client_credentials' }).toString();
    let response: Dispatcher.ResponseData;
    const startedAt = this.now();
    try {
      response = await request(`${this.options.authUrl}${path}`, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
      });
    } catch (err) {
      throw new TokenError(`token request to ${this.options.authUrl}${path} failed: ${(err as Error).message}`, true, undefined, {
        cause: err,
      });
    }
    const text = await response.body.text();
    this.options.budget.observe('token', response.statusCode, parseRetryAfter(response.headers['retry-after']));
    if (response.statusCode !== 200) {
      // 4xx means this credential or client_id is refused: waiting will not fix it, but the operator may.
      const retryable = response.statusCode >= 500 || response.statusCode === 429;
      throw new TokenError(
        `token endpoint answered ${response.statusCode}: ${text.slice(0, 300)}`,
        retryable,
        response.statusCode,
      );
    }
    let parsed: { access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new TokenError('token endpoint answered 200 with a body that is not JSON', true, 200);
    }
    if (typeof parsed.access_token !== 'string' || parsed.access_token === '') {
      throw new TokenError('token endpoint answered 200 without access_token', true, 200);
    }
    const lifetimeMs = (typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 300) * 1000;
    const margin = Math.min(this.options.refreshMarginMs, lifetimeMs / 10);
    this.cached = { value: parsed.access_token, refreshAt: startedAt + lifetimeMs - margin, expiresAt: startedAt + lifetimeMs };
    this.fetched++;
    this.options.log?.debug({ path, expiresInMs: lifetimeMs, refreshInMs: lifetimeMs - margin, fetched: this.fetched }, 'token: fetched');
    return parsed.access_token;
  }
}
