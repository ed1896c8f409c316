import { createSecureContext, type SecureContext } from 'node:tls';
import { Agent } from '../http-client.js';
import { readTokenFile } from '../config/token-file.js';
import { CredentialError, DeliveryError, ForwardRefusedError } from '../errors.js';
import { parseRetryAfter } from './backoff.js';
import { readPem } from './credentials.js';
import { postBatch, type BatchPostObserver } from './post-batch.js';
import type { BatchAnswer, ItemResult } from './report-client.js';

/**
 * An agent's delivery to another pcm-sidecar (its aggregator) instead of the PCM: the same lanes, leases and
 * backoff (lane.ts), another far end. A batch is the stored report JSON posted to the aggregator's
 * `POST /v1/reports`, which validates it again and answers only after its own commit; that answer is delivery:
 *
 *   202, every item accepted or a duplicate       → every row delivered (recorded ACCEPTED, without a PCM reportId)
 *   207 (or a partial 200/202) with results        → by index: accepted and duplicate delivered, rejected a dead letter
 *                                                    with the aggregator's message
 *   an item refused for its organisation, 401, 403 → ForwardRefusedError: held and retried, the lane not ready
 *   413                                            → DeliveryError: the lane halves the batch
 *   429, 5xx (Retry-After honoured), the network   → DeliveryError: retried with backoff
 *
 * `?orgId=` names the lane's organisation, so an opendata report (which names none) lands in the same organisation's
 * lane at the aggregator; `?partialStatus=207` keeps a partial answer a 207 whatever the aggregator's default.
 */

export interface ForwardTarget {
  /** The aggregator's ingest base URL (PCM_FORWARD_URL). */
  url: string;
  tokenFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  caFile?: string | undefined;
}

export interface ForwardOptions {
  exportTimeoutMs: number;
  connectTimeoutMs: number;
  /** Told of every POST once it is over (metrics). */
  onPosted?: BatchPostObserver | undefined;
}

/** Rules by which the aggregator refuses an organisation, not a report: fixing its configuration fixes them. */
const ORGANISATION_RULES = new Set(['reporter_org', 'opendata_org']);

/** The token for the aggregator, read once per transport; the lane builds a new transport when the file changes. */
export class ForwardToken {
  readonly fetched = 0;
  readonly expiresAt = null;
  constructor(private readonly value: string) {}
  async get(): Promise<string> {
    return this.value;
  }
  /** A refused token stays what the file holds until the file changes. */
  invalidate(): void {}
  async close(): Promise<void> {}
}

export class ForwardClient {
  private readonly agent: Agent;
  private readonly url: string;

  constructor(
    target: ForwardTarget,
    orgId: string,
    secureContext: SecureContext | undefined,
    private readonly options: ForwardOptions,
  ) {
    this.url = `${target.url}/v1/reports?orgId=${encodeURIComponent(orgId)}&partialStatus=207`;
    this.agent = new Agent({
      connect: { ...(secureContext ? { secureContext } : {}), rejectUnauthorized: true, timeout: options.connectTimeoutMs },
      keepAliveTimeout: 30_000,
    });
  }

  /** Posts `body` (a JSON array of `count` stored reports) with `token` ('' for none). */
  async send(body: string, count: number, token: string, signal?: AbortSignal): Promise<BatchAnswer> {
    const { statusCode, headers, text } = await postBatch(this.agent, this.url, body, token, {
      timeoutMs: this.options.exportTimeoutMs,
      signal,
      what: 'forward POST to the aggregator',
      reports: count,
      onPosted: this.options.onPosted,
    });
    return forwardAnswer(statusCode, headers, text, count);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/**
 * The transport of one lane: the token and the TLS identity read from their files now. Throws CredentialError
 * naming the setting, so the lane reports it as PCM_CREDENTIAL_UNUSABLE and reads the files again later.
 */
export function forwardTransport(target: ForwardTarget, orgId: string, options: ForwardOptions): { tokens: ForwardToken; client: ForwardClient } {
  let token = '';
  if (target.tokenFile !== undefined) {
    const read = readTokenFile(target.tokenFile);
    if ('problem' in read) throw new CredentialError('PCM_FORWARD_TOKEN_FILE (forward.tokenFile)', read.problem);
    token = read.tokens[0] as string;
  }
  return { tokens: new ForwardToken(token), client: new ForwardClient(target, orgId, secureContextOf(target), options) };
}

function secureContextOf(target: ForwardTarget): SecureContext | undefined {
  if (!target.url.startsWith('https:')) return undefined;
  const cert = target.certFile === undefined ? undefined : readPem('PCM_FORWARD_CERT_FILE (forward.certFile)', target.certFile);
  const key = target.keyFile === undefined ? undefined : readPem('PCM_FORWARD_KEY_FILE (forward.keyFile)', target.keyFile);
  const ca = target.caFile === undefined ? undefined : readPem('PCM_FORWARD_CA_FILE (forward.caFile)', target.caFile);
  try {
    // Built once per transport, as for the PCM (report-client.ts). The CA file replaces Node's bundled CAs: an
    // aggregator's certificate comes from the institution's own CA, which is then the only one trusted.
    return createSecureContext({ cert, key, ca });
  } catch (err) {
    throw new CredentialError('PCM_FORWARD_CERT_FILE / PCM_FORWARD_KEY_FILE / PCM_FORWARD_CA_FILE', `not a usable TLS identity or CA: ${(err as Error).message}`, { cause: err });
  }
}

interface IngestResult {
  index?: unknown;
  status?: unknown;
  errors?: unknown;
  reason?: unknown;
}

/** The aggregator's ingest answer (src/ingest/server.ts) → one result per row, or the error that holds the batch. */
export function forwardAnswer(statusCode: number, headers: Record<string, string | string[] | undefined>, text: string, count: number): BatchAnswer {
  if (statusCode === 200 || statusCode === 202 || statusCode === 207) {
    return { kind: 'results', status: statusCode === 202 ? 200 : statusCode, items: itemsOf(parseAnswer(text, statusCode), count, statusCode) };
  }
  const said = errorText(text);
  if (statusCode === 401 || statusCode === 403) {
    throw new ForwardRefusedError(`the aggregator answered ${statusCode}: ${said}`, statusCode);
  }
  // Thrown rather than answered, so the lane's split says who refused it.
  if (statusCode === 413) throw new DeliveryError('PCM_DELIVERY_TOO_LARGE', `the aggregator answered 413: ${said}`, 413);
  const retryAfterMs = parseRetryAfter(headers['retry-after']);
  const code = statusCode === 429 ? 'PCM_DELIVERY_THROTTLED' : statusCode >= 500 ? 'PCM_DELIVERY_SERVER_ERROR' : 'PCM_DELIVERY_REFUSED';
  throw new DeliveryError(code, `the aggregator answered ${statusCode}: ${said}`, statusCode, retryAfterMs);
}

function parseAnswer(text: string, status: number): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new DeliveryError('PCM_DELIVERY_BAD_ANSWER', `the aggregator answered ${status} with a body that is not JSON`, status);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new DeliveryError('PCM_DELIVERY_BAD_ANSWER', `the aggregator answered ${status} with no answer object`, status);
  }
  return parsed as Record<string, unknown>;
}

/**
 * Results by index when the answer lists them; otherwise the counts must say every item was stored. Anything that
 * cannot be mapped safely is a bad answer and the batch is sent again: what the aggregator stored comes back as
 * duplicates, so a resend costs nothing at the PCM.
 */
function itemsOf(answer: Record<string, unknown>, count: number, status: number): ItemResult[] {
  const bad = (why: string): DeliveryError => new DeliveryError('PCM_DELIVERY_BAD_ANSWER', `the aggregator answered ${status} ${why}`, status);
  const { results } = answer;
  if (results === undefined) {
    const { accepted, duplicates, rejected } = answer;
    if (typeof accepted !== 'number' || typeof duplicates !== 'number' || (rejected !== undefined && rejected !== 0) || accepted + duplicates !== count) {
      throw bad(`without results, and its counts do not say all ${count} reports were stored`);
    }
    return Array.from({ length: count }, () => ({ status: 'ACCEPTED', reportId: null, message: null }));
  }
  if (!Array.isArray(results) || results.length !== count) {
    throw bad(`with ${Array.isArray(results) ? results.length : 'no'} results for ${count} reports`);
  }
  const items = (results as IngestResult[]).map((result, i): ItemResult => {
    if (result === null || typeof result !== 'object' || (result.index !== undefined && result.index !== i)) throw bad(`with result ${i} out of order`);
    switch (result.status) {
      case 'accepted':
      case 'duplicate':
        return { status: 'ACCEPTED', reportId: null, message: null };
      case 'rejected': {
        const problems = Array.isArray(result.errors) ? (result.errors as { rule?: unknown; message?: unknown }[]) : [];
        if (problems.some((p) => typeof p?.rule === 'string' && ORGANISATION_RULES.has(p.rule))) {
          const said = problems.map((p) => String(p?.message)).join('; ');
          throw new ForwardRefusedError(`the aggregator does not report for this organisation: ${said}`, status);
        }
        const said = problems.length > 0 ? problems.map((p) => (typeof p?.message === 'string' ? p.message : JSON.stringify(p))).join('; ') : 'no reason given';
        return { status: 'DISCARDED', reportId: null, message: `Refused by the aggregator: ${said}` };
      }
      case 'skipped':
        // /v1/reports skips nothing today; an aggregator that did would never send the report either.
        return { status: 'DISCARDED', reportId: null, message: `Skipped by the aggregator: ${typeof result.reason === 'string' ? result.reason : 'no reason given'}` };
      default:
        throw bad(`with result ${i} of status ${JSON.stringify(result.status)}`);
    }
  });
  return items;
}

/** The `error` of the aggregator's JSON answer, or the start of the text. */
function errorText(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // Not JSON: a proxy's page, say.
  }
  return text.slice(0, 300);
}
