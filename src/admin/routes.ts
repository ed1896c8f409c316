import type { DayVerdict } from '../sla/assess.js';
import type { Spool } from '../spool/spool.js';
import { listDeadLetters, replayDeadLetters } from './deadletters-route.js';
import { listQuarantine, replayQuarantine } from './quarantine-route.js';
import type { AdminQueryThread } from './query-thread.js';
import { interactionReports, listReports } from './reports-route.js';
import type { AdminHandler, AdminRoute } from './server.js';
import { stats } from './stats-route.js';

/** The admin listener's routes: the open ones the sidecar answers itself, then the admin API of this room. */

/** The largest page of the admin API's listings (acceptRange). */
export const ADMIN_PAGE_MAX = 1000;

export interface AdminSources {
  /** The running sidecar's spool: told of what replays stored, so that the sender takes it at once. */
  spool: Spool;
  /** Where the questions about the spool and the replays run (with the running rules, a SIGHUP reload included). */
  queries: AdminQueryThread;
  /** The SLA's verdict per day. */
  slaDays: () => readonly DayVerdict[];
  /** Open: GET /healthz, /readyz, /metrics. */
  health: AdminHandler;
  readiness: AdminHandler;
  metrics: AdminHandler;
  /** GET /v1/status, /v1/reconciliation, /v1/notifications: answered by the rooms that know them. */
  status: AdminHandler;
  reconciliation: AdminHandler;
  notifications: AdminHandler;
}

export function adminRoutes(s: AdminSources): AdminRoute[] {
  const { queries, spool } = s;
  return [
    { path: '/healthz', open: true, GET: s.health },
    { path: '/readyz', open: true, GET: s.readiness },
    { path: '/metrics', open: true, GET: s.metrics },
    { path: '/v1/status', GET: s.status },
    { path: '/v1/reconciliation', GET: s.reconciliation },
    { path: '/v1/notifications', GET: s.notifications },
    { path: '/v1/reports', GET: listReports(queries, ADMIN_PAGE_MAX, () => spool.pendingRanges()) },
    { path: '/v1/reports/{fapiInteractionId}', GET: interactionReports(queries) },
    { path: '/v1/stats', GET: stats({ days: s.slaDays, queries }) },
    { path: '/v1/quarantine', GET: listQuarantine(queries, ADMIN_PAGE_MAX) },
    { path: '/v1/quarantine/replay', POST: replayQuarantine(queries, spool) },
    { path: '/v1/deadletters', GET: listDeadLetters(queries, ADMIN_PAGE_MAX) },
    { path: '/v1/deadletters/replay', POST: replayDeadLetters(queries, spool) },
  ];
}
