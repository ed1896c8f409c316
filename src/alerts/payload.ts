import type { Burst } from './bursts.js';

/**
 * The body of a notification, shaped like seed 002's webhook: `eventoNotificacao` is the event code, `metadados` a
 * list of name/value pairs (every value a string, as there), `transactionId` a UUID of this notification (the
 * receiver's key for recognising a resend), and `timestamp` when it was made.
 */
export interface NotificationPayload {
  eventoNotificacao: string;
  metadados: { nome: string; valor: string }[];
  transactionId: string;
  timestamp: string;
}

export function notificationPayload(burst: Burst, transactionId: string, now: number): NotificationPayload {
  const metadados: { nome: string; valor: string }[] = [];
  const add = (nome: string, valor: string | number | undefined): void => {
    if (valor !== undefined) metadados.push({ nome, valor: String(valor) });
  };
  const f = burst.fields;
  add('count', burst.count);
  add('events', burst.events);
  add('lane', f.lane);
  add('orgId', f.orgId);
  add('day', f.day);
  add('state', f.state);
  add('reason', f.reason);
  add('message', f.message);
  add('firstAt', new Date(burst.firstAt).toISOString());
  add('lastAt', new Date(burst.lastAt).toISOString());
  // Comma-separated in one pair: a receiver that turns the list into an object keeps them all.
  if (burst.sample.length > 0) add('fapiInteractionIds', burst.sample.join(','));
  for (const [nome, valor] of Object.entries(f.details ?? {})) add(nome, valor);
  return { eventoNotificacao: burst.code, metadados, transactionId, timestamp: new Date(now).toISOString() };
}
