import type Database from 'better-sqlite3';
import { QueryTimeLimitError } from '../errors.js';
import type { DeadLetterReason } from './ledger-store.js';
import { LANE_BITS } from './schema.js';
import type { Range } from './ranges.js';
import { pageRanges, StateRangeReader } from './state-ranges.js';

/**
 * Read-only questions about what the spool holds, for the admin API (src/admin/): reports by state, endpoint and
 * timestamp, the reports of one fapiInteractionId, per-day figures by endpoint, the quarantine and the dead letters.
 * They never write, so a read-only connection serves them (the admin API's query thread opens one); the spool's own
 * (Spool.queries()) lists quarantine and dead letters for the commands. The common answers never read the log: a
 * listing without an endpoint or a time window is counted and paged from the ledger's ranges (state-ranges.ts), the
 * per-endpoint figures from counters (endpoint-days.ts). The spool keeps no index on what is inside a report (the hot
 * path writes none), so an endpoint, a window or an id is looked for in every report kept: as text first, before its
 * JSON is read. Each answer is a bounded page. What the sidecar changed in the last moments (with the writer thread)
 * may trail by a commit.
 *
 * `within(ms, …)` bounds a question's time: every row a scan reads calls pcm_in_time(), which throws once the limit
 * has passed, so SQLite stops where it is (and a thread's terminate() takes effect at the next such call, rolling
 * back what the statement had begun).
 */

export type ListedState = 'pending' | 'inflight' | 'delivered' | 'discarded';
export const LISTED_STATES: readonly ListedState[] = ['pending', 'inflight', 'delivered', 'discarded'];

export interface ReportFilter {
  status?: ListedState | undefined;
  endpoint?: string | undefined;
  /** The report's timestamp at or after this (epoch ms) … */
  from?: number | undefined;
  /** … and before this. */
  to?: number | undefined;
}

/** One stored report as the spool knows it. */
export interface StoredReport {
  id: number;
  lane: string;
  stream: string;
  orgId: string;
  state: ListedState;
  /** When it was stored here (epoch ms). */
  storedAt: number;
  /** The report's own timestamp (epoch ms). */
  reportAt: number;
  /** The JSON that goes (or went) to the PCM. */
  body: string;
  /** When the PCM answered for it (or the sidecar gave up on it), epoch ms; null while unanswered. */
  answeredAt: number | null;
  /** The PCM's reportId for it, when the PCM gave one. */
  reportId: string | null;
  /** Dead letters: why, the PCM's message (or the sidecar's), and when a replay stored it again. */
  reason: DeadLetterReason | null;
  message: string | null;
  replayedAt: number | null;
}

/** A report that will not be sent again: why, when it was decided, and what was stored. */
export interface DeadLetter {
  id: number;
  lane: string;
  reason: DeadLetterReason;
  /** The PCM's message, or why the sidecar stopped. */
  message: string | null;
  /** When it became a dead letter (epoch ms). */
  at: number;
  body: string;
  /** The report's timestamp (epoch ms). */
  reportAt: number;
  /** When `deadletter replay` stored it again (epoch ms); null if it was not. */
  replayedAt: number | null;
}

/** Which dead letters a listing asks for. */
export interface DeadLetterQuery {
  reason?: DeadLetterReason | undefined;
  /** Decided at or after this instant (epoch ms). */
  since?: number | undefined;
  beforeId?: number | undefined;
  /** Leave out those already replayed. */
  unreplayed?: boolean;
}

export interface QuarantinedItem {
  id: number;
  /** When the item was first refused; the same item refused again is folded into this row. */
  receivedAt: number;
  /** How many times it was refused, and when last (a log shipper re-posting a chunk sends it again). */
  count: number;
  lastSeenAt: number;
  source: string;
  route: string;
  item: string;
  problems: string;
}

function deadLetterParams(filter: DeadLetterQuery): Record<string, string | number | null> {
  return { reason: filter.reason ?? null, since: filter.since ?? null, before: filter.beforeId ?? null, unreplayed: filter.unreplayed === true ? 1 : 0 };
}

/** The dead letters a listing asks for. */
const DEAD_LETTER_FILTER = `pcm_in_time() AND (:reason IS NULL OR x.reason = :reason) AND (:since IS NULL OR x.at >= :since)
  AND (:before IS NULL OR x.id < :before) AND (:unreplayed = 0 OR x.replayed_at IS NULL)`;

/** Rows a scan reads between two looks at the clock: Date.now() for each would cost more than the row. */
const ROWS_PER_CLOCK_LOOK = 1024;

/**
 * Reports of one BRT day and endpoint, by state: all counters (endpoint-days.ts), kept as the day's own (`days`)
 * are, so pruning lowers none of them.
 */
export interface EndpointDay {
  day: number;
  /** A catalogue template, or UNLISTED_ENDPOINT for the rest (endpoint-days.ts). */
  endpoint: string;
  /** Counted as they were stored, less dead letters stored again (counted as their copy). */
  received: number;
  /** ACCEPTED by the PCM. */
  accepted: number;
  /** Dead letters (DISCARDED, refused, too old), less those stored again. */
  discarded: number;
  /** Of the dead letters, those never sent: past the PCM's age limit here. */
  tooOld: number;
  /** Not yet answered (pending or in flight): received less the rest. */
  pending: number;
}

/** Rows of endpoint_days one answer holds at most: the catalogue's templates make ~140 a day, 8 days are asked for. */
export const MAX_ENDPOINT_ROWS = 4000;

/** The per-endpoint figures asked for; days before `countedFrom` have none (a file migrated from schema 4). */
export interface EndpointDays {
  countedFrom: number;
  rows: EndpointDay[];
  /**
   * Days (from `countedFrom` on) whose counters per endpoint do not add up to the day's own: a release of schema 4
   * wrote to the file for a while (a rollback), counting in `days` only. Their rows are left out.
   */
  unbalanced: number[];
  /** More than MAX_ENDPOINT_ROWS rows: the newest days' were kept, the oldest left out. */
  truncated: boolean;
}

interface DaySums {
  day: number;
  received: number;
  delivered: number;
  discarded: number;
  tooOld: number;
}

const ANSWERED = `LEFT JOIN discarded x ON x.id = l.id
LEFT JOIN deliveries d ON d.first = (SELECT max(first) FROM deliveries WHERE first <= l.id) AND d.last >= l.id`;

const ROW = `SELECT l.id AS id, n.name AS lane, n.stream AS stream, n.org_id AS orgId, l.created_at AS storedAt,
  coalesce(l.ts, l.created_at) AS reportAt, l.body AS body, d.at AS answeredAt,
  CASE WHEN d.report_ids IS NULL THEN NULL ELSE json_extract(d.report_ids, '$[' || (l.id - d.origin) || ']') END AS reportId,
  x.reason AS reason, x.message AS message, x.replayed_at AS replayedAt,
  CASE WHEN x.id IS NOT NULL THEN 'discarded' WHEN d.first IS NOT NULL THEN 'delivered'
       WHEN coalesce((SELECT s.last FROM leases s WHERE s.first <= l.id ORDER BY s.first DESC LIMIT 1), 0) >= l.id THEN 'inflight'
       ELSE 'pending' END AS state`;

/** Where the rows come from: a state held in a small table drives the read from it. */
const SOURCES: Record<'all' | 'discarded' | 'inflight', string> = {
  all: 'log l',
  discarded: 'discarded dx JOIN log l ON l.id = dx.id',
  inflight: 'leases lx JOIN log l ON l.id BETWEEN lx.first AND lx.last',
};

const CONDITIONS = `pcm_in_time() AND (:endpoint IS NULL OR (instr(l.body, :endpointText) > 0 AND json_extract(l.body, '$.endpoint') = :endpoint))
  AND (:from IS NULL OR coalesce(l.ts, l.created_at) >= :from)
  AND (:to IS NULL OR coalesce(l.ts, l.created_at) < :to)`;

function selectFrom(source: keyof typeof SOURCES): string {
  return `SELECT * FROM (${ROW} FROM ${SOURCES[source]} JOIN lanes n ON n.no = (l.id >> ${LANE_BITS}) ${ANSWERED} WHERE ${CONDITIONS})
WHERE (:status IS NULL OR state = :status)`;
}

/** Reports of one fapiInteractionId at most (both roles, and their replays): more would be a gateway's fault. */
export const MAX_PER_INTERACTION = 100;

export class SpoolQueries {
  private readonly pages = new Map<string, Database.Statement>();
  private readonly counts = new Map<string, Database.Statement>();
  private readonly pageStatements: { fromId: Database.Statement; inRange: Database.Statement };
  private readonly byInteraction: Database.Statement;
  private readonly endpointStatements: Record<'countedFrom' | 'rows' | 'endpointSums' | 'daySums', Database.Statement>;
  private readonly statements;
  private readonly states: StateRangeReader;
  /** When the question under way must stop (epoch ms), and its limit for the message. */
  private stopAt = Number.POSITIVE_INFINITY;
  private limitMs = 0;

  constructor(private readonly db: Database.Database) {
    let rows = 0;
    // Not deterministic, so SQLite calls it for every row rather than once.
    db.function('pcm_in_time', { deterministic: false }, () => {
      if (++rows % ROWS_PER_CLOCK_LOOK === 0 && Date.now() > this.stopAt) throw new QueryTimeLimitError(this.limitMs);
      return 1;
    });
    this.statements = {
      quarantineCount: db.prepare('SELECT count(*) FROM quarantine').pluck(),
      quarantinePage: db.prepare(
        `SELECT id, received_at AS receivedAt, count, coalesce(last_seen_at, received_at) AS lastSeenAt, source, route, item, problems
         FROM quarantine WHERE pcm_in_time() AND id > ? ORDER BY id LIMIT ? OFFSET ?`,
      ),
      deadLetters: db.prepare(
        `SELECT x.id, n.name AS lane, x.reason, x.message, x.at, l.body, coalesce(l.ts, l.created_at) AS reportAt, x.replayed_at AS replayedAt
         FROM discarded x JOIN log l ON l.id = x.id JOIN lanes n ON n.no = (x.id >> ${LANE_BITS})
         WHERE ${DEAD_LETTER_FILTER} ORDER BY x.id DESC LIMIT :limit OFFSET :offset`,
      ),
      deadLetterCount: db.prepare(`SELECT count(*) FROM discarded x WHERE ${DEAD_LETTER_FILTER}`).pluck(),
    };
    this.states = new StateRangeReader(db);
    const rowsFrom = `${ROW} FROM log l JOIN lanes n ON n.no = (l.id >> ${LANE_BITS}) ${ANSWERED} WHERE pcm_in_time()`;
    this.pageStatements = {
      fromId: db.prepare(`${rowsFrom} AND l.id >= :start ORDER BY l.id LIMIT :limit`),
      inRange: db.prepare(`SELECT * FROM (${rowsFrom} AND l.id BETWEEN :a AND :b) WHERE state = :status ORDER BY id LIMIT :limit OFFSET :skip`),
    };
    for (const source of Object.keys(SOURCES) as (keyof typeof SOURCES)[]) {
      this.pages.set(source, db.prepare(`${selectFrom(source)} ORDER BY id LIMIT :limit OFFSET :offset`));
      this.counts.set(source, db.prepare(`SELECT count(*) FROM (${selectFrom(source)})`).pluck());
    }
    this.byInteraction = db.prepare(
      `${ROW} FROM log l JOIN lanes n ON n.no = (l.id >> ${LANE_BITS}) ${ANSWERED}
       WHERE pcm_in_time() AND instr(l.body, :text) > 0 AND json_extract(l.body, '$.fapiInteractionId') = :id ORDER BY l.id LIMIT ${MAX_PER_INTERACTION}`,
    );
    this.endpointStatements = {
      countedFrom: db.prepare("SELECT day FROM counted_since WHERE counter = 'endpoint_days'").pluck(),
      rows: db.prepare(
        `SELECT day, endpoint, received, delivered, discarded, too_old AS tooOld FROM endpoint_days
         WHERE day >= ? AND received + delivered + discarded + too_old > 0 ORDER BY day DESC, endpoint LIMIT ?`,
      ),
      endpointSums: db.prepare(
        `SELECT day, sum(received) AS received, sum(delivered) AS delivered, sum(discarded) AS discarded, sum(too_old) AS tooOld
         FROM endpoint_days WHERE day >= ? GROUP BY day`,
      ),
      daySums: db.prepare(
        `SELECT day, sum(received) AS received, sum(delivered) AS delivered, sum(discarded) AS discarded, sum(too_old) AS tooOld
         FROM days WHERE day >= ? GROUP BY day`,
      ),
    };
  }

  /**
   * One page of reports in the spool's order (per lane, as they arrived) and how many match in all. Without an
   * endpoint or a time window, the total and the page's first id come from the ledger and the small tables
   * (state-ranges.ts): no scan, whatever the spool's size. An endpoint or a window is looked for in every report.
   * `pending`: the pending ranges of the running sidecar's ledger (Spool.pendingRanges); without it they are read
   * from the tables, at the cost of reading every delivery piece.
   */
  reports(filter: ReportFilter, page: { offset: number; limit: number }, pending?: readonly Range[]): { total: number; rows: StoredReport[] } {
    if (!this.db.open) return { total: 0, rows: [] };
    if (filter.endpoint === undefined && filter.from === undefined && filter.to === undefined) {
      return this.db.transaction(() => this.reportsByState(filter.status, page, pending))();
    }
    const source = filter.status === 'discarded' || filter.status === 'inflight' ? filter.status : 'all';
    const params = {
      status: filter.status ?? null,
      endpoint: filter.endpoint ?? null,
      endpointText: filter.endpoint === undefined ? null : JSON.stringify(filter.endpoint),
      from: filter.from ?? null,
      to: filter.to ?? null,
    };
    const total = (this.counts.get(source) as Database.Statement).get(params) as number;
    const rows = total <= page.offset ? [] : ((this.pages.get(source) as Database.Statement).all({ ...params, ...page }) as StoredReport[]);
    return { total, rows };
  }

  private reportsByState(status: ListedState | undefined, page: { offset: number; limit: number }, pending?: readonly Range[]): { total: number; rows: StoredReport[] } {
    if (status === 'discarded') {
      // The dead letters are few: their own table, paged as it is.
      const total = this.states.deadLetters();
      const params = { status, endpoint: null, endpointText: null, from: null, to: null, ...page };
      return { total, rows: total <= page.offset ? [] : ((this.pages.get('discarded') as Database.Statement).all(params) as StoredReport[]) };
    }
    const s = this.states.of(status ?? 'all', pending);
    const at = s.total <= page.offset ? null : pageRanges(s, page.offset, page.limit);
    if (at === null) return { total: s.total, rows: [] };
    const [first] = at.ranges[0] as Range;
    // Every id of a range is a row: the page starts at the id its offset falls on.
    if (status === undefined) return { total: s.total, rows: this.pageStatements.fromId.all({ start: first + at.skip, limit: page.limit }) as StoredReport[] };
    const rows: StoredReport[] = [];
    at.ranges.forEach(([a, b], i) => {
      if (rows.length >= page.limit) return;
      const skip = i === 0 ? at.skip : 0;
      // Delivered pieces may hold dead letters, which the state leaves out: counted past, not jumped over.
      const jump = status !== 'delivered';
      const params = { a: jump ? a + skip : a, b, status, limit: page.limit - rows.length, skip: jump ? 0 : skip };
      rows.push(...(this.pageStatements.inRange.all(params) as StoredReport[]));
    });
    return { total: s.total, rows };
  }

  /** Every stored report carrying this fapiInteractionId (a client's and a server's may both be here). */
  interaction(fapiInteractionId: string): StoredReport[] {
    if (!this.db.open) return [];
    // The id as it is written inside the JSON: found as text first, so most bodies are never parsed.
    return this.byInteraction.all({ text: JSON.stringify(fapiInteractionId), id: fapiInteractionId }) as StoredReport[];
  }

  /**
   * Per BRT day (from `fromDay` on) and endpoint, the reports by state, from the counters alone (endpoint-days.ts):
   * no read of the log, whatever it holds, and the same answer before and after pruning. Each day's counters are
   * checked against the day's own (`days`, summed over the lanes); a day where they differ is named in `unbalanced`
   * and has no rows. Days before the counters began (a migrated file) have none.
   */
  endpointDays(fromDay: number): EndpointDays {
    if (!this.db.open) return { countedFrom: fromDay, rows: [], unbalanced: [], truncated: false };
    return this.db.transaction(() => {
      const s = this.endpointStatements;
      const countedFrom = (s.countedFrom.get() as number | undefined) ?? 0;
      const from = Math.max(fromDay, countedFrom);
      const sums = (statement: Database.Statement): Map<number, DaySums> => new Map((statement.all(from) as DaySums[]).map((d) => [d.day, d]));
      const [perEndpoint, perLane] = [sums(s.endpointSums), sums(s.daySums)];
      const unbalanced = [...new Set([...perEndpoint.keys(), ...perLane.keys()])]
        .filter((day) => {
          const [e, l] = [perEndpoint.get(day), perLane.get(day)];
          return (['received', 'delivered', 'discarded', 'tooOld'] as const).some((k) => (e?.[k] ?? 0) !== (l?.[k] ?? 0));
        })
        .sort((x, y) => x - y);
      const read = s.rows.all(from, MAX_ENDPOINT_ROWS + 1) as (Omit<EndpointDay, 'accepted' | 'pending'> & { delivered: number })[];
      const truncated = read.length > MAX_ENDPOINT_ROWS;
      const rows: EndpointDay[] = read
        .slice(0, MAX_ENDPOINT_ROWS)
        .filter((r) => !unbalanced.includes(r.day))
        .map(({ delivered, ...r }) => ({
          day: r.day,
          endpoint: r.endpoint,
          received: r.received,
          accepted: delivered,
          discarded: r.discarded + r.tooOld,
          tooOld: r.tooOld,
          pending: Math.max(0, r.received - delivered - r.discarded - r.tooOld),
        }))
        .sort((x, y) => x.day - y.day || (x.endpoint < y.endpoint ? -1 : x.endpoint > y.endpoint ? 1 : 0));
      return { countedFrom, rows, unbalanced, truncated };
    })();
  }

  /** Items in quarantine. */
  quarantineCount(): number {
    if (!this.db.open) return 0;
    return this.statements.quarantineCount.get() as number;
  }

  /** One page of quarantined items, oldest first, after `afterId` (and `offset` items more). */
  quarantined(afterId: number, limit: number, offset = 0): QuarantinedItem[] {
    if (!this.db.open) return [];
    return this.statements.quarantinePage.all(afterId, limit, offset) as QuarantinedItem[];
  }

  /** Dead letters (DISCARDED, refused, too old), newest first; `reason` and `since` (epoch ms) narrow the list. */
  deadLetters(filter: DeadLetterQuery & { limit: number; offset?: number }): DeadLetter[] {
    if (!this.db.open) return [];
    return this.statements.deadLetters.all({ ...deadLetterParams(filter), limit: filter.limit, offset: filter.offset ?? 0 }) as DeadLetter[];
  }

  /** How many dead letters the filter selects. */
  countDeadLetters(filter: DeadLetterQuery): number {
    if (!this.db.open) return 0;
    return this.statements.deadLetterCount.get(deadLetterParams(filter)) as number;
  }

  /**
   * Asks `question` with a time limit: a scan still reading after `limitMs` stops with QueryTimeLimitError. The
   * limit holds for questions asked inside only (and a statement between rows, so not for a sort of what was read).
   */
  within<T>(limitMs: number, question: () => T): T {
    this.stopAt = Date.now() + limitMs;
    this.limitMs = limitMs;
    try {
      return question();
    } finally {
      this.stopAt = Number.POSITIVE_INFINITY;
    }
  }
}
