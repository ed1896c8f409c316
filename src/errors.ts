/**
 * Every error the sidecar raises on purpose, with a stable `code` that logs, metrics and tests can match on.
 * Messages are for people; codes are for machines.
 */
export class SidecarError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A setting is missing or invalid. `setting` names it as the operator wrote it (env var or file path). */
export class ConfigError extends SidecarError {
  readonly setting: string;
  /** What is wrong with it: the message without the setting's name. */
  readonly detail: string;
  constructor(setting: string, detail: string, options?: { cause?: unknown }) {
    super('PCM_CONFIG_INVALID', `${setting}: ${detail}`, options);
    this.setting = setting;
    this.detail = detail;
  }
}

/** A client certificate, key or CA cannot be read or does not form a usable TLS identity. */
export class CredentialError extends SidecarError {
  readonly setting: string;
  constructor(setting: string, message: string, options?: { cause?: unknown }) {
    super('PCM_CREDENTIAL_UNUSABLE', `${setting}: ${message}`, options);
    this.setting = setting;
  }
}

/** The ingest body could not be accepted as a whole. `status` is the HTTP answer to give. */
export class IngestError extends SidecarError {
  readonly status: number;
  constructor(code: string, status: number, message: string) {
    super(code, message);
    this.status = status;
  }
}

/** The spool cannot take more reports (disk full, size cap): the caller must back off, nothing was written. */
export class SpoolFullError extends SidecarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PCM_SPOOL_FULL', message, options);
  }
}

/** The backlog reached PCM_SPOOL_MAX_PENDING_REPORTS: ingest answers 503 until it drains. */
export class BacklogFullError extends SidecarError {
  constructor(message: string) {
    super('PCM_SPOOL_BACKLOG_FULL', message);
  }
}

/** The token endpoint refused or failed. `retryable` tells the sender whether waiting can help. */
export class TokenError extends SidecarError {
  readonly retryable: boolean;
  readonly status: number | undefined;
  constructor(message: string, retryable: boolean, status?: number, options?: { cause?: unknown }) {
    super('PCM_TOKEN_FAILED', message, options);
    this.retryable = retryable;
    this.status = status;
  }
}

/** A report batch could not be delivered this time; the rows stay in the spool. */
export class DeliveryError extends SidecarError {
  readonly status: number | undefined;
  /** Milliseconds the far end asked us to wait (Retry-After), when it said so. */
  readonly retryAfterMs: number | undefined;
  constructor(code: string, message: string, status?: number, retryAfterMs?: number, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** A call gave up waiting for its turn under the rate budget (the lane is stopping): it was not made. */
export class RateWaitAbortedError extends SidecarError {
  readonly call: string;
  constructor(call: string) {
    super('PCM_RATE_WAIT_ABORTED', `gave up waiting for the rate budget before a ${call} call; the call was not made`);
    this.call = call;
  }
}

/**
 * An aggregator refused the agent (401/403: its token or client certificate) or the organisation (it does not report
 * for it). Not about the reports: the batch is held and retried, and the lane is not ready until one is answered.
 */
export class ForwardRefusedError extends DeliveryError {
  constructor(message: string, status: number) {
    super('PCM_FORWARD_REFUSED', message, status);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}

/** The spool's writer thread stopped: nothing more can be committed until the process restarts. */
export class SpoolWriterError extends SidecarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PCM_SPOOL_WRITER', message, options);
  }
}

/** Stable codes of a lane that cannot deliver now, in the order /readyz names them when several hold. */
export type LaneNotReadyCode =
  | 'PCM_CREDENTIAL_UNUSABLE'
  | 'PCM_TOKEN_REFUSED'
  | 'PCM_REPORT_FORBIDDEN'
  | 'PCM_FORWARD_REFUSED'
  | 'PCM_LANE_STALLED';

/**
 * Why a lane is not ready (GET /readyz, /v1/status, pcm_sidecar_sender_ready): a state, not thrown. `since` is when
 * the cause was first seen; the lane clears it itself when the cause goes away.
 */
export class LaneNotReadyError extends SidecarError {
  declare readonly code: LaneNotReadyCode;
  readonly since: number;
  constructor(code: LaneNotReadyCode, message: string, since: number) {
    super(code, message);
    this.since = since;
  }
}

/** Stable codes of reconciliation failures (src/reconcile/): an ask that got no usable answer, or the store. */
export type ReconcileErrorCode =
  | 'PCM_RECONCILE_NETWORK'
  | 'PCM_RECONCILE_THROTTLED'
  | 'PCM_RECONCILE_REFUSED'
  | 'PCM_RECONCILE_BAD_ANSWER'
  /** The reconciliation file could not be read: moved aside, a new one started. */
  | 'PCM_RECONCILE_STORE_UNREADABLE'
  /** The reconciliation file could not be opened at all: the sidecar runs without reconciliation. */
  | 'PCM_RECONCILE_STORE_UNAVAILABLE';

/**
 * A GET of a report's reconciliation status that gave no status (the report is asked again later), or the
 * reconciliation file failing. Reconciliation is an estimate, so none of these ever touches delivery.
 */
export class ReconcileError extends SidecarError {
  declare readonly code: ReconcileErrorCode;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(code: ReconcileErrorCode, message: string, status?: number, retryAfterMs?: number, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Stable codes of a webhook notification attempt that did not succeed (src/alerts/). */
export type AlertDeliveryCode =
  /** The receiver answered, but not with the status the subscription expects (201 by default). */
  | 'PCM_ALERT_UNEXPECTED_STATUS'
  /** No answer: connection refused or reset, DNS, TLS, timeout. */
  | 'PCM_ALERT_UNREACHABLE'
  /** The OAuth2 token endpoint refused the client (a 4xx): a wrong client id, secret or scope. */
  | 'PCM_ALERT_TOKEN_REFUSED'
  /** The token endpoint failed otherwise: unreachable, a 5xx, an answer without access_token. */
  | 'PCM_ALERT_TOKEN_FAILED'
  /** The client secret file cannot be read. */
  | 'PCM_ALERT_SECRET_UNREADABLE';

/** One webhook attempt failed; the notification stays pending and is tried again (or given up after the window). */
export class AlertDeliveryError extends SidecarError {
  declare readonly code: AlertDeliveryCode;
  /** The HTTP status that came back, when one did. */
  readonly status: number | undefined;
  constructor(code: AlertDeliveryCode, message: string, status?: number, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
  }
}

/** A listing request with paging parameters that do not hold: 400, or 412 for a page above the largest (seed 003). */
export class PageRequestError extends SidecarError {
  readonly status: 400 | 412;
  constructor(code: 'PCM_PAGE_INVALID' | 'PCM_PAGE_TOO_LARGE', status: 400 | 412, message: string) {
    super(code, message);
    this.status = status;
  }
}

/** A spool question still reading when its time limit passed (SpoolQueries.within): stopped, nothing changed. */
export class QueryTimeLimitError extends SidecarError {
  readonly limitMs: number;
  constructor(limitMs: number) {
    super('PCM_QUERY_TOO_LONG', `the query took longer than ${limitMs / 1000} s and was stopped`);
    this.limitMs = limitMs;
  }
}

/**
 * The admin API's query thread cannot answer this request now: its queue is full (`PCM_ADMIN_BUSY`, try again after
 * `retryAfterSeconds`) or the request ran past its time limit (`PCM_QUERY_TOO_LONG`). Answered 503.
 */
export class AdminUnavailableError extends SidecarError {
  readonly status = 503;
  readonly retryAfterSeconds: number | undefined;
  constructor(code: 'PCM_ADMIN_BUSY' | 'PCM_QUERY_TOO_LONG', message: string, retryAfterSeconds?: number) {
    super(code, message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
