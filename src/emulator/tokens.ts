import { randomBytes } from 'node:crypto';

/**
 * Bearer tokens of the emulated PCM. `/token/` returns the organisation's cached token with its remaining lifetime
 * (release 2025D); `/token-fresh/` always mints a new one (release 2026A). A client_id → organisation map, when
 * configured, is checked against the organisation of the client certificate.
 */

export interface IssuedToken {
  accessToken: string;
  orgId: string;
  clientId: string;
  expiresAt: number;
}

export type TokenAnswer =
  | { ok: true; token: IssuedToken; expiresIn: number }
  | { ok: false; status: 400 | 401; body: Record<string, string> };

export class TokenIssuer {
  private readonly byToken = new Map<string, IssuedToken>();
  private readonly cached = new Map<string, IssuedToken>();
  issued = 0;

  constructor(
    private readonly lifetimeSeconds: number,
    /** client_id → organisationId; null accepts any client_id and trusts the certificate. */
    private readonly clients: ReadonlyMap<string, string> | null,
  ) {}

  issue(fields: Record<string, unknown>, certificateOrgId: string | null, fresh: boolean, now: number): TokenAnswer {
    if (fields.grant_type !== 'client_credentials') {
      return { ok: false, status: 400, body: { error: 'unsupported_grant_type', error_description: 'Unsupported grant_type' } };
    }
    const clientId = fields.client_id;
    if (typeof clientId !== 'string' || clientId === '') {
      return { ok: false, status: 400, body: { error: 'invalid_client', error_description: 'client_id is required' } };
    }
    if (certificateOrgId === null) {
      return { ok: false, status: 401, body: { message: 'the client certificate carries no organisationId (OU)' } };
    }
    if (this.clients) {
      const orgId = this.clients.get(clientId);
      if (orgId === undefined) return { ok: false, status: 400, body: { error: 'invalid_client', error_description: 'Invalid client credentials' } };
      if (orgId !== certificateOrgId) return { ok: false, status: 401, body: { message: 'ClientId is not valid to the orgId' } };
    }
    const key = `${certificateOrgId}|${clientId}`;
    const cached = this.cached.get(key);
    if (!fresh && cached && cached.expiresAt > now) {
      return { ok: true, token: cached, expiresIn: Math.floor((cached.expiresAt - now) / 1000) };
    }
    const token: IssuedToken = {
      accessToken: randomBytes(32).toString('base64url'),
      orgId: certificateOrgId,
      clientId,
      expiresAt: now + this.lifetimeSeconds * 1000,
    };
    this.byToken.set(token.accessToken, token);
    this.cached.set(key, token);
    this.issued++;
    return { ok: true, token, expiresIn: this.lifetimeSeconds };
  }

  /** The token behind an Authorization header, if it is a live bearer token. */
  verify(authorization: string | undefined, now: number): IssuedToken | null {
    if (!authorization?.startsWith('Bearer ')) return null;
    const token = this.byToken.get(authorization.slice(7));
    return token && token.expiresAt > now ? token : null;
  }

  /** The access tokens currently valid (for in-process tests that check where a token must never appear). */
  live(now: number): string[] {
    return [...this.byToken.values()].filter((t) => t.expiresAt > now).map((t) => t.accessToken);
  }

  revokeAll(): number {
    const n = this.byToken.size;
    this.byToken.clear();
    this.cached.clear();
    return n;
  }
}

/** Requests per one-second window, with the highest count seen; above `limit` the PCM answers 429. */
export class RateLimiter {
  private window = -1;
  private count = 0;
  peak = 0;

  constructor(private readonly limit: number) {}

  /** Counts a request at `now`; false when it is over the limit. */
  admit(now: number): boolean {
    const second = Math.floor(now / 1000);
    if (second !== this.window) {
      this.window = second;
      this.count = 0;
    }
    this.count++;
    this.peak = Math.max(this.peak, this.count);
    return this.count <= this.limit;
  }

  reset(): void {
    this.peak = 0;
  }
}
