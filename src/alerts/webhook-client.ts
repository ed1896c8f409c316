import { request, type Dispatcher } from '../http-client.js';
import { AlertDeliveryError, errorMessage } from '../errors.js';
import { OAuth2Client, readLimited } from './oauth2.js';
import { expects, type Subscription } from './subscriptions.js';

/**
 * One attempt to hand a notification to its receiver: `POST url` with the JSON payload, the subscription's extra
 * headers and, with oauth2, a bearer token. Success is the expected status alone (201 unless configured, seed 002);
 * redirects are not followed. A 401 with a token drops it and tries once more with a fresh one, in the same attempt.
 * TLS verification is Node's, always on.
 */

/** Of a receiver's answer, only this much is read (and dropped: its words are not stored). */
const MAX_ANSWER_BYTES = 16 * 1024;

export class WebhookClient {
  readonly oauth2: OAuth2Client | null;

  constructor(
    readonly subscription: Subscription,
    private readonly dispatcher: Dispatcher,
    private readonly timeoutMs: number,
    now: () => number = Date.now,
  ) {
    this.oauth2 = subscription.oauth2 ? new OAuth2Client(subscription.oauth2, dispatcher, timeoutMs, now) : null;
  }

  /** Resolves with the status when it is the expected one; otherwise throws AlertDeliveryError. */
  async deliver(payload: string, signal?: AbortSignal): Promise<number> {
    let token = this.oauth2 ? await this.oauth2.token(signal) : null;
    let status = await this.post(payload, token, signal);
    if (status === 401 && this.oauth2 && token !== null) {
      this.oauth2.invalidate(token);
      token = await this.oauth2.token(signal);
      status = await this.post(payload, token, signal);
    }
    if (!expects(this.subscription.expectStatus, status)) {
      const expected = this.subscription.expectStatus === '2xx' ? 'a 2xx' : String(this.subscription.expectStatus);
      throw new AlertDeliveryError('PCM_ALERT_UNEXPECTED_STATUS', `receiver answered ${status}, expected ${expected}`, status);
    }
    return status;
  }

  private async post(payload: string, token: string | null, signal?: AbortSignal): Promise<number> {
    try {
      const response = await request(this.subscription.url, {
        method: 'POST',
        dispatcher: this.dispatcher,
        headers: {
          'user-agent': 'pcm-sidecar',
          ...this.subscription.headers,
          'content-type': 'application/json',
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        },
        body: payload,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal,
      });
      await readLimited(response.body, MAX_ANSWER_BYTES);
      return response.statusCode;
    } catch (err) {
      throw new AlertDeliveryError('PCM_ALERT_UNREACHABLE', `receiver ${this.subscription.origin} unreachable: ${errorMessage(err)}`, undefined, { cause: err });
    }
  }
}
