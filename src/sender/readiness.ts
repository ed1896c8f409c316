import type { Logger } from 'pino';
import { LaneNotReadyError, type TokenError } from '../errors.js';
import type { TokenRefresh } from './token.js';

/**
 * Whether one lane can deliver now, for /readyz and pcm_sidecar_sender_ready. Causes are events the lane reports (an
 * unusable credential, a refused token request, a 403) or derived from the clock (a stall: reports wait and none
 * was answered for `stallMs`). Each clears itself: a usable credential, a token, a 200/207, progress.
 */

export interface ReadinessView {
  /** Can deliver now. */
  ready: boolean;
  /** Why not (LaneNotReadyCode); null when ready. */
  code: string | null;
  reason: string | null;
  /** When the lane last became ready or not ready (ISO 8601). */
  since: string;
  /** Token refreshes by outcome (TokenRefresh). */
  tokenRefreshes: Record<TokenRefresh['result'], number>;
  /** Age of the oldest report not yet answered by the PCM (pending or in flight); 0 when none waits. */
  backlogOldestAgeSeconds: number;
}

/** A change of a lane's readiness or of its cause, for a listener (the sidecar turns PCM_TOKEN_REFUSED into an alert). */
export interface ReadinessChange {
  lane: string;
  ready: boolean;
  /** The cause now (LaneNotReadyCode), and before this change; null: ready. */
  code: string | null;
  previousCode: string | null;
  reason: string | null;
}

export class LaneReadiness {
  private credential: LaneNotReadyError | null = null;
  private tokenRefused: LaneNotReadyError | null = null;
  private forbidden: LaneNotReadyError | null = null;
  private readonly refreshes = { ok: 0, refused: 0, error: 0 };
  /** The last time reports left the backlog (answered or dead-lettered): the stall clock. */
  private lastProgressAt: number;
  private state: { ready: boolean; since: number; code: string | null };

  constructor(
    private readonly lane: string,
    private readonly stallMs: number,
    /** When the lane's oldest report not yet answered was stored (Spool.oldestUndelivered); null when none. */
    private readonly oldestUndelivered: () => number | null,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    /** Told each change of readiness or of its cause (the log has the ready/not ready ones). */
    private readonly onChange?: (change: ReadinessChange) => void,
  ) {
    this.lastProgressAt = now();
    this.state = { ready: true, since: this.lastProgressAt, code: null };
  }

  credentialUnusable(message: string | null): void {
    if (message === null) {
      if (this.credential === null) return;
      this.credential = null;
      this.settle(this.fault(this.oldestUndelivered()));
      return;
    }
    this.credential = new LaneNotReadyError('PCM_CREDENTIAL_UNUSABLE', message, this.credential?.since ?? this.now());
    this.settle(this.credential);
  }

  tokenRefresh(outcome: TokenRefresh, clientId: string): void {
    this.refreshes[outcome.result]++;
    if (outcome.result === 'ok') {
      if (this.tokenRefused === null) return;
      this.tokenRefused = null;
      // Once per token lifetime at most: the spool read for a stall that may still hold is affordable.
      this.settle(this.fault(this.oldestUndelivered()));
    } else if (outcome.result === 'refused') {
      this.tokenRefused = refusal(outcome.error, clientId, this.tokenRefused?.since ?? this.now());
      this.settle(this.fault(null));
    }
  }

  /**
   * The report API answered 403: it knows the token and refuses the organisation, until a batch is answered. An
   * agent's aggregator refusing it (PCM_FORWARD_REFUSED: 401, 403, an organisation it does not report for) is the same.
   */
  forbiddenBy(message: string, code: 'PCM_REPORT_FORBIDDEN' | 'PCM_FORWARD_REFUSED' = 'PCM_REPORT_FORBIDDEN'): void {
    this.forbidden = new LaneNotReadyError(code, message, this.forbidden?.since ?? this.now());
    this.settle(this.fault(null));
  }

  /** The report API answered 200/207. */
  answered(): void {
    this.forbidden = null;
  }

  /** Reports left the backlog: no stall now, so no spool read. */
  progressed(): void {
    this.lastProgressAt = this.now();
    this.settle(this.fault(null));
  }

  /** The state now, settling a stall that began or ended since the last look. */
  view(lastError: string | null): ReadinessView {
    const now = this.now();
    const oldest = this.oldestUndelivered();
    const fault = this.fault(oldest, lastError);
    this.settle(fault);
    return {
      ready: fault === null,
      code: fault?.code ?? null,
      reason: fault?.message ?? null,
      since: new Date(this.state.since).toISOString(),
      tokenRefreshes: { ...this.refreshes },
      backlogOldestAgeSeconds: oldest === null ? 0 : Math.max(0, (now - oldest) / 1000),
    };
  }

  /** The first cause that holds, in LaneNotReadyCode order. `oldest` null: no stall to look for. */
  private fault(oldest: number | null, lastError: string | null = null): LaneNotReadyError | null {
    const event = this.credential ?? this.tokenRefused ?? this.forbidden;
    if (event || this.stallMs === 0 || oldest === null) return event;
    // Reports stored after the last progress have only waited since they were stored.
    const waitingSince = Math.max(this.lastProgressAt, oldest);
    const waited = this.now() - waitingSince;
    if (waited < this.stallMs) return null;
    return new LaneNotReadyError(
      'PCM_LANE_STALLED',
      `reports wait (the oldest stored ${new Date(oldest).toISOString()}) and none was answered by the PCM for ${Math.round(waited / 1000)} s` +
        (lastError === null ? '' : `; last error: ${lastError}`),
      waitingSince + this.stallMs,
    );
  }

  /** Records and logs a change between ready and not ready: since the cause began, or since now on recovery. */
  private settle(fault: LaneNotReadyError | null): void {
    const ready = fault === null;
    const code = fault?.code ?? null;
    const previousCode = this.state.code;
    if (ready === this.state.ready) {
      // Not ready for another cause (a stall, then a refused token): no log line, but the listener hears it.
      if (code === previousCode) return;
      this.state.code = code;
    } else {
      this.state = { ready, since: fault?.since ?? this.now(), code };
      if (fault) this.log.warn({ lane: this.lane, code: fault.code, reason: fault.message }, `lane ${this.lane} is not ready`);
      else this.log.info({ lane: this.lane }, `lane ${this.lane} is ready again`);
    }
    this.onChange?.({ lane: this.lane, ready, code, previousCode, reason: fault?.message ?? null });
  }
}

function refusal(error: TokenError, clientId: string, since: number): LaneNotReadyError {
  return new LaneNotReadyError('PCM_TOKEN_REFUSED', `token request for client_id ${clientId} refused: ${error.message}`, since);
}
