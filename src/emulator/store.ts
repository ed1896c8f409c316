import Database from 'better-sqlite3';
import { comparePair, withoutCounterpart, type FinalStatus } from './pairing.js';

/**
 * The emulator's reports: SQLite in memory by default, or in a file so the state survives a restart.
 * Statistics that describe reports (by status, distinct ids, duplicates) are queries, so they survive too.
 */

export interface ReceivedReport {
  reportId: string;
  stream: 'private' | 'opendata';
  status: 'ACCEPTED' | 'DISCARDED';
  message: string | null;
  /** The organisation of the token that sent it. */
  senderOrgId: string | null;
  receivedAt: number;
  report: unknown;
}

export interface StoredReport {
  reportId: string;
  stream: 'private' | 'opendata';
  status: FinalStatus;
  message: string | null;
  senderOrgId: string | null;
  pairedReportId: string | null;
  receivedAt: string;
  updatedAt: string;
  report: unknown;
}

export interface ReportFilter {
  fapiInteractionId?: string | undefined;
  status?: string | undefined;
  role?: string | undefined;
  stream?: string | undefined;
  senderOrgId?: string | undefined;
  offset: number;
  limit: number;
}

interface Row {
  report_id: string;
  stream: 'private' | 'opendata';
  status: FinalStatus;
  message: string | null;
  sender_org: string | null;
  paired_report_id: string | null;
  received_at: number;
  updated_at: number;
  body: string;
  role: string | null;
  fapi: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS reports (
  report_id        TEXT PRIMARY KEY,
  stream           TEXT NOT NULL,
  role             TEXT,
  fapi             TEXT,
  identity         TEXT,
  sender_org       TEXT,
  status           TEXT NOT NULL,
  message          TEXT,
  paired_report_id TEXT,
  received_at      INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  body             TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_fapi ON reports (fapi);
CREATE INDEX IF NOT EXISTS reports_identity ON reports (identity);
CREATE INDEX IF NOT EXISTS reports_fresh ON reports (received_at) WHERE status = 'ACCEPTED';
DROP INDEX IF EXISTS reports_waiting;
`;

function toStored(row: Row): StoredReport {
  return {
    reportId: row.report_id,
    stream: row.stream,
    status: row.status,
    message: row.message,
    senderOrgId: row.sender_org,
    pairedReportId: row.paired_report_id,
    receivedAt: new Date(row.received_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    report: JSON.parse(row.body) as unknown,
  };
}

/** A top-level field of a report as sent: an own property only (JSON.parse makes `__proto__` an ordinary own key). */
function field(report: unknown, key: string): unknown {
  return report !== null && typeof report === 'object' && Object.hasOwn(report, key) ? (report as Record<string, unknown>)[key] : undefined;
}

/** One part of a duplicate-detection identity; never calls the sender's values (an object's `toString` may not be callable). */
function identityPart(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}

/** An org id for comparison: lower-cased when it is a string, nothing otherwise. */
function orgIdOf(report: unknown, key: string): string | null {
  const value = field(report, key);
  return typeof value === 'string' ? value.toLowerCase() : null;
}

export class ReportStore {
  private readonly db: Database.Database;
  /** Rows held, counted as they are added; the bound is applied on a fresh count. */
  private rows: number;
  /** Reports the last reconcile pass looked at (its cost). */
  lastExamined = 0;

  constructor(
    file = ':memory:',
    /** Past this many reports the oldest are deleted, down to 90 %. */
    private readonly maxReports = Number.POSITIVE_INFINITY,
  ) {
    this.db = new Database(file);
    if (file !== ':memory:') this.db.pragma('journal_mode = WAL');
    this.db.exec(SCHEMA);
    this.rows = (this.db.prepare('SELECT count(*) AS n FROM reports').get() as { n: number }).n;
  }

  /** Deletes the oldest reports while more than maxReports are kept; returns how many went. */
  private bound(): number {
    if (this.rows <= this.maxReports) return 0;
    const excess = this.rows - Math.floor(this.maxReports * 0.9);
    const deleted = this.db.prepare('DELETE FROM reports WHERE rowid IN (SELECT rowid FROM reports ORDER BY rowid LIMIT ?)').run(excess).changes;
    this.rows = (this.db.prepare('SELECT count(*) AS n FROM reports').get() as { n: number }).n;
    return deleted;
  }

  /** Stores a batch as received; returns how many were already seen (same role, id, endpoint, method, timestamp). */
  add(reports: readonly ReceivedReport[]): number {
    const insert = this.db.prepare(
      `INSERT INTO reports (report_id, stream, role, fapi, identity, sender_org, status, message, received_at, updated_at, body)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const seen = this.db.prepare('SELECT 1 FROM reports WHERE identity = ? LIMIT 1');
    return this.db.transaction(() => {
      let duplicates = 0;
      for (const r of reports) {
        const fapi = field(r.report, 'fapiInteractionId');
        const fapiId = typeof fapi === 'string' ? fapi.toLowerCase() : null;
        const identity =
          r.stream === 'private'
            ? [field(r.report, 'role'), fapiId, field(r.report, 'endpoint'), field(r.report, 'httpMethod'), field(r.report, 'timestamp')].map(identityPart).join('|')
            : ['OPENDATA', ...['endpoint', 'httpMethod', 'timestamp', 'statusCode', 'processTimespan'].map((k) => field(r.report, k))].map(identityPart).join('|');
        if (seen.get(identity)) duplicates++;
        const role = field(r.report, 'role');
        insert.run(
          r.reportId,
          r.stream,
          typeof role === 'string' ? role : null,
          fapiId,
          identity,
          r.senderOrgId,
          r.status,
          r.message,
          r.receivedAt,
          r.receivedAt,
          JSON.stringify(r.report),
        );
        this.rows++;
      }
      this.bound();
      return duplicates;
    })();
  }

  /**
   * Reconciles reports whose window has closed (received before `before`): pairs them with a counterpart of the
   * other role, or marks them UNPAIRED / SINGLE. Only reports not yet reconciled are looked at, with the UNPAIRED
   * ones of the same fapiInteractionId: a late counterpart still pairs them all — and a pass costs what arrived
   * since the last one, not everything ever left unpaired (a soak of one-sided traffic made every pass re-read the
   * whole store).
   */
  reconcile(before: number, now: number): number {
    // Not yet reconciled ones, and the UNPAIRED ones of an id that just got a newly arrived report (a resend of the
    // same role pairs too, as it did when every UNPAIRED report was looked at again each pass).
    const waiting = this.db
      .prepare(
        `SELECT * FROM reports WHERE status = 'ACCEPTED' AND received_at <= @before
         UNION ALL
         SELECT * FROM reports WHERE status = 'UNPAIRED'
           AND fapi IN (SELECT fapi FROM reports WHERE status = 'ACCEPTED' AND received_at <= @before AND fapi IS NOT NULL)
         ORDER BY received_at`,
      )
      .all({ before }) as Row[];
    this.lastExamined = waiting.length;
    const counterpart = this.db.prepare(
      `SELECT * FROM reports WHERE fapi = ? AND role = ? AND stream = 'private' AND status NOT IN ('DISCARDED')
       AND report_id != ? ORDER BY received_at LIMIT 1`,
    );
    const set = this.db.prepare('UPDATE reports SET status = ?, paired_report_id = ?, message = coalesce(?, message), updated_at = ? WHERE report_id = ?');
    const current = this.db.prepare('SELECT status FROM reports WHERE report_id = ?');
    return this.db.transaction(() => {
      let changed = 0;
      for (const row of waiting) {
        const status = (current.get(row.report_id) as { status: string }).status;
        if (status !== 'ACCEPTED' && status !== 'UNPAIRED') continue; // paired earlier in this pass
        const report = JSON.parse(row.body) as Record<string, unknown>;
        const other =
          row.stream === 'private' && row.fapi
            ? (counterpart.get(row.fapi, row.role === 'CLIENT' ? 'SERVER' : 'CLIENT', row.report_id) as Row | undefined)
            : undefined;
        if (other) {
          const { status: pair, differing } = comparePair(report, JSON.parse(other.body) as Record<string, unknown>);
          const note = differing.length > 0 ? `Inconsistent fields: ${differing.join(', ')}` : null;
          set.run(pair, other.report_id, note, now, row.report_id);
          set.run(pair, row.report_id, note, now, other.report_id);
          changed += 2;
        } else {
          const next = withoutCounterpart(row.stream, report);
          if (next !== status) {
            set.run(next, null, null, now, row.report_id);
            changed++;
          }
        }
      }
      return changed;
    })();
  }

  list(filter: ReportFilter): { data: StoredReport[]; total: number } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.fapiInteractionId) (where.push('fapi = ?'), args.push(filter.fapiInteractionId.toLowerCase()));
    if (filter.status) (where.push('status = ?'), args.push(filter.status));
    if (filter.role) (where.push('role = ?'), args.push(filter.role));
    if (filter.stream) (where.push('stream = ?'), args.push(filter.stream));
    if (filter.senderOrgId) (where.push('sender_org = ?'), args.push(filter.senderOrgId.toLowerCase()));
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.db.prepare(`SELECT count(*) AS n FROM reports ${clause}`).get(...args) as { n: number }).n;
    const rows = this.db
      .prepare(`SELECT * FROM reports ${clause} ORDER BY received_at, rowid LIMIT ? OFFSET ?`)
      .all(...args, filter.limit, filter.offset) as Row[];
    return { data: rows.map(toStored), total };
  }

  /**
   * The report with this fapiInteractionId that `orgId` may see: the one it sent, else one it is party to
   * (clientOrgId or serverOrgId). A report without org ids is visible to its sender only (seed 000, "Cenário 6").
   */
  visibleTo(fapiInteractionId: string, orgId: string): StoredReport | null {
    const rows = this.db.prepare('SELECT * FROM reports WHERE fapi = ? ORDER BY received_at').all(fapiInteractionId.toLowerCase()) as Row[];
    const own = rows.find((r) => r.sender_org === orgId);
    if (own) return toStored(own);
    const party = rows.find((r) => {
      const report = JSON.parse(r.body) as unknown;
      return orgIdOf(report, 'clientOrgId') === orgId || orgIdOf(report, 'serverOrgId') === orgId;
    });
    return party ? toStored(party) : null;
  }

  counts(): { byStatus: Record<string, number>; distinctFapiInteractionIds: number; duplicatesReceived: number } {
    const byStatus: Record<string, number> = {};
    for (const row of this.db.prepare('SELECT status, count(*) AS n FROM reports GROUP BY status').all() as { status: string; n: number }[]) {
      byStatus[row.status] = row.n;
    }
    const ids = this.db.prepare('SELECT count(DISTINCT fapi) AS n FROM reports').get() as { n: number };
    const dup = this.db.prepare('SELECT count(*) - count(DISTINCT identity) AS n FROM reports').get() as { n: number };
    return { byStatus, distinctFapiInteractionIds: ids.n, duplicatesReceived: dup.n };
  }

  reset(): void {
    this.db.exec('DELETE FROM reports');
    this.rows = 0;
  }

  close(): void {
    this.db.close();
  }
}

/** A quality finding as GET /emulator/quality serves it. */
export interface QualityFinding {
  fapiInteractionId: string | null;
  endpoint: string | null;
  role: string | null;
  rule: string;
  field: string;
  message: string;
  reportId: string;
}

export interface QualitySnapshot {
  /** Findings recorded since start or reset, including those dropped from `findings`. */
  total: number;
  /** The same count by rule id. */
  byRule: Record<string, number>;
  /** The newest findings (at most the log's limit), newest last. */
  findings: QualityFinding[];
}

/**
 * The bound of the quality log: the newest 10 000 findings are kept, the oldest dropped first, so a long run (or a
 * load test) cannot grow the emulator without limit. The counts (`total`, `byRule`) cover everything recorded.
 */
export const QUALITY_LOG_LIMIT = 10_000;

/**
 * The emulator's data-quality dashboard: findings of ACCEPTED reports, in memory (a ring buffer). It does not survive
 * a restart, even with a state file; POST /emulator/reset empties it.
 */
export class QualityLog {
  private ring: QualityFinding[] = [];
  /** Where the next finding goes once the ring is full (= the oldest one). */
  private next = 0;
  private total = 0;
  private byRule = new Map<string, number>();

  constructor(private readonly limit = QUALITY_LOG_LIMIT) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`quality log limit must be a positive integer, got ${limit}`);
  }

  add(finding: QualityFinding): void {
    if (this.ring.length < this.limit) this.ring.push(finding);
    else this.ring[this.next] = finding;
    this.next = (this.next + 1) % this.limit;
    this.total++;
    this.byRule.set(finding.rule, (this.byRule.get(finding.rule) ?? 0) + 1);
  }

  snapshot(): QualitySnapshot {
    const findings = this.ring.length < this.limit ? [...this.ring] : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    return { total: this.total, byRule: Object.fromEntries(this.byRule), findings };
  }

  reset(): void {
    this.ring = [];
    this.next = 0;
    this.total = 0;
    this.byRule = new Map();
  }
}
