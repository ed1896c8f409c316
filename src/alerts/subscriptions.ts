import { createHash } from 'node:crypto';
import type { WebhookSubscription } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { ALERT_CODES, isAlertCode, type AlertCode } from './events.js';

/**
 * The configured subscriptions as the room uses them: a stable id, the set of events, and a URL that can be logged.
 * A webhook URL may carry its secret in its path or query (a Slack-style URL), so logs and metrics name the
 * subscription by id and the URL by its origin alone.
 */

export interface Subscription {
  id: string;
  events: ReadonlySet<AlertCode>;
  url: string;
  /** scheme://host:port, for logs. */
  origin: string;
  headers: Readonly<Record<string, string>>;
  rateLimitPerMinute: number;
  expectStatus: number | '2xx';
  oauth2: WebhookSubscription['oauth2'];
}

/** The id of a subscription without one: from its URL, which it does not reveal. */
function idOf(url: string): string {
  return `webhook-${createHash('sha256').update(url).digest('hex').slice(0, 12)}`;
}

/** Checks the event codes and ids; a problem is a ConfigError naming the setting, like every other bad setting. */
export function resolveSubscriptions(configured: readonly WebhookSubscription[]): Subscription[] {
  const seen = new Set<string>();
  return configured.map((sub, i) => {
    const events = new Set<AlertCode>();
    for (const code of sub.events) {
      if (code === '*') ALERT_CODES.forEach((c) => events.add(c));
      else if (isAlertCode(code)) events.add(code);
      else throw new ConfigError(`alerts.subscriptions.${i}.events`, `unknown event ${code}; the events are: ${ALERT_CODES.join(', ')}, or *`);
    }
    const id = sub.id ?? idOf(sub.url);
    if (seen.has(id)) {
      throw new ConfigError(`alerts.subscriptions.${i}.id`, `subscription ${id} is configured twice (give each one its own "id", or its own url)`);
    }
    seen.add(id);
    if (sub.oauth2 && Object.keys(sub.headers).some((h) => h.toLowerCase() === 'authorization')) {
      throw new ConfigError(`alerts.subscriptions.${i}.headers`, 'an authorization header and oauth2 exclude each other: oauth2 sets it');
    }
    return {
      id,
      events,
      url: sub.url,
      origin: new URL(sub.url).origin,
      headers: sub.headers,
      rateLimitPerMinute: sub.rateLimitPerMinute,
      expectStatus: sub.expectStatus,
      oauth2: sub.oauth2,
    };
  });
}

export function expects(expect: number | '2xx', status: number): boolean {
  return expect === '2xx' ? status >= 200 && status < 300 : status === expect;
}
