import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { dayLabel } from '../spool/days.js';
import { DIVERGENT_STATUSES, type DivergentStatus, type RecordedStatus } from './status.js';

/**
 * Reconciliation's own SQLite file, apart from the spool (whose schema it never touches): one row per sampled report
 * with its last answer and when to ask next, the day's counts of considered and sampled reports, and tallies per day,
 * endpoint and status kept in step with the rows, so a status read costs a few rows and not a scan.
 *
 * One writer (the reconciler, on the main thread). Writes are buffered and committed together by `flush` — one
 * transaction for everything sampled and answered since the last one — in WAL with synchronous=NORMAL: a crash or
 * power cut loses at most the last flush interval. That is acceptable here: the figures are estimates, and a lost
 * entry only means one report fewer in the sample (both its considered and sampled counts go with it).
 */

const VERSION = 1;

/** Entries deleted per prune transaction: a day past its retention goes over a few ticks, never in one long write. */
const PRUNE_CHUNK = 5000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  id               INTEGER PRIMARY KEY,
  lane             TEXT NOT NULL,
  fapi             TEXT NOT NULL,
  role             TEXT NOT NULL,
  endpoint         TEXT NOT NULL,
  http_method      TEXT,
  status_code      INTEGER,
  counterpart_org  TEXT,
  at               INTEGER NOT NULL,
  day              INTEGER NOT NULL,
  accepted_at      INTEGER NOT NULL,
  report_id        TEXT,
  status           TEXT,
  differing        TEXT,
  paired_report_id TEXT,
  asks             INTEGER NOT NULL DEFAULT 0,
  errors           INTEGER NOT NULL DEFAULT 0,
  answered_at      INTEGER,
  due_at           INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS entries_key ON entries (lane, fapi);
CREATE INDEX IF NOT EXISTS entries_first ON entries (due_at) WHERE due_at IS NOT NULL AND asks = 0;
CREATE INDEX IF NOT EXISTS entries_again ON entries (due_at) WHERE due_at IS NOT NULL AND asks > 0;
CREATE INDEX IF NOT EXISTS entries_day ON entries (day);
CREATE INDEX IF NOT EXISTS entries_status ON entries (status, answered_at);
CREATE INDEX IF NOT EXISTS entries_divergent ON entries (answered_at) WHERE status IN ('UNPAIRED', 'PAIRED_INCONSISTENT');
CREATE TABLE IF NOT EXISTS days (
  day        INTEGER PRIMARY KEY,
  considered INTEGER NOT NULL,
  sampled    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tallies (
  day      INTEGER NOT NULL,
  endpoint TEXT NOT NULL,
  status   TEXT NOT NULL,
  n        INTEGER NOT NULL,
  PRIMARY KEY (day, endpoint, status)
) WITHOUT ROWID;
`;

/** The tally of entries sampled per day and endpoint (every other tally counts entries by their last status). */
export const SAMPLED = 'SAMPLED';

export interface NewEntry {
  lane: string;
  fapiInteractionId: string;
  role: 'CLIENT' | 'SERVER';
  endpoint: string;
  httpMethod: string | null;
  statusCode: number | null;
  counterpartOrgId: string | null;
  /** The report's timestamp (epoch ms) and its BRT day. */
  at: number;
  day: number;
  acceptedAt: number;
  /** The PCM's reportId from the POST answer. */
  reportId: string | null;
  /** When to ask first. */
  dueAt: number;
}

/** An entry whose ask is due. */
export interface DueEntry {
  id: number;
  lane: string;
  fapiInteractionId: string;
  endpoint: string;
  at: number;
  day: number;
  status: RecordedStatus | null;
  asks: number;
  errors: number;
}

/** The outcome of one ask (or of giving up on one), to be written at the next flush. */
export interface EntryUpdate {
  entry: DueEntry;
  /** The answer's status; null when the ask got none. */
  status: RecordedStatus | null;
  differing: readonly string[] | null;
  pairedReportId: string | null;
  /** An ask was made and failed (counted in `errors`). */
  failed: boolean;
  at: number;
  /** When to ask next; null: never (final). */
  dueAt: number | null;
}

export interface DayRow {
  day: number;
  considered: number;
  sampled: number;
}

export interface TallyRow {
  day: number;
  endpoint: string;
  status: string;
  n: number;
}

export interface DivergentReport {
  fapiInteractionId: string;
  lane: string;
  role: string;
  endpoint: string;
  httpMethod: string | null;
  statusCode: number | null;
  counterpartOrgId: string | null;
  /** The report's timestamp, ISO 8601, and its BRT day. */
  timestamp: string;
  day: string;
  status: DivergentStatus;
  /** §9.1 fields the PCM's answer named as differing; null when it named none. */
  differingFields: string[] | null;
  pairedReportId: string | null;
  reportId: string | null;
  asks: number;
  answeredAt: string | null;
  /** No further ask is planned (7 days after the timestamp, or a final status). */
  final: boolean;
}

export interface DivergentQuery {
  status?: DivergentStatus | undefined;
  offset: number;
  limit: number;
}

interface EntryRow {
  id: number;
  lane: string;
  fapi: string;
  role: string;
  endpoint: string;
  http_method: string | null;
  status_code: number | null;
  counterpart_org: string | null;
  at: number;
  day: number;
  report_id: string | null;
  status: string | null;
  differing: string | null;
  paired_report_id: string | null;
  asks: number;
  errors: number;
  answered_at: number | null;
  due_at: number | null;
}

function isUnreadableDatabase(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT'));
}

/** Renames the file and its WAL/SHM to `<path>.corrupt-<time>`; returns the new path. */
function moveAside(path: string): string {
  const target = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(path + suffix)) renameSync(path + suffix, target + suffix);
  }
  return target;
}

function openFile(path: string): Database.Database {
  const db = new Database(path);
  try {
    if (path !== ':memory:') db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > VERSION) {
      throw Object.assign(new Error(`reconciliation store version ${version} is newer than this sidecar's ${VERSION}`), { code: 'SQLITE_NOTADB' });
    }
    db.exec(SCHEMA);
    db.pragma(`user_version = ${VERSION}`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

export class ReconcileStore {
  readonly path: string;
  /** Where an unreadable (or newer) file was moved at open, if one was. */
  readonly movedAside: string | null = null;
  private readonly db: Database.Database;
  private readonly statements;
  private entries: number;
  private newEntries: NewEntry[] = [];
  private updates: EntryUpdate[] = [];
  private considered = new Map<number, number>();

  constructor(path: string) {
    this.path = path;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    let db: Database.Database;
    try {
      db = openFile(path);
    } catch (err) {
      // Estimates only: an unreadable file is kept aside for inspection and a new one starts, never a crash loop.
      if (!isUnreadableDatabase(err) || path === ':memory:') throw err;
      this.movedAside = moveAside(path);
      db = openFile(path);
    }
    this.db = db;
    this.statements = {
      insert: db.prepare(
        `INSERT OR IGNORE INTO entries (lane, fapi, role, endpoint, http_method, status_code, counterpart_org, at, day, accepted_at, report_id, due_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      day: db.prepare(
        `INSERT INTO days (day, considered, sampled) VALUES (?, ?, ?)
         ON CONFLICT (day) DO UPDATE SET considered = considered + excluded.considered, sampled = sampled + excluded.sampled`,
      ),
      tally: db.prepare(
        `INSERT INTO tallies (day, endpoint, status, n) VALUES (?, ?, ?, ?)
         ON CONFLICT (day, endpoint, status) DO UPDATE SET n = n + excluded.n`,
      ),
      answered: db.prepare(
        `UPDATE entries SET status = ?, differing = ?, paired_report_id = ?, asks = asks + 1, answered_at = ?, due_at = ? WHERE id = ?`,
      ),
      unanswered: db.prepare('UPDATE entries SET errors = errors + ?, due_at = ? WHERE id = ?'),
      dueFirst: db.prepare(
        'SELECT id, lane, fapi, endpoint, at, day, status, asks, errors FROM entries WHERE due_at IS NOT NULL AND asks = 0 AND due_at <= ? ORDER BY due_at, id LIMIT ?',
      ),
      dueAgain: db.prepare(
        'SELECT id, lane, fapi, endpoint, at, day, status, asks, errors FROM entries WHERE due_at IS NOT NULL AND asks > 0 AND due_at <= ? ORDER BY due_at, id LIMIT ?',
      ),
      nextFirst: db.prepare('SELECT min(due_at) FROM entries WHERE due_at IS NOT NULL AND asks = 0').pluck(),
      nextAgain: db.prepare('SELECT min(due_at) FROM entries WHERE due_at IS NOT NULL AND asks > 0').pluck(),
      pendingFirst: db.prepare('SELECT count(*) FROM entries WHERE due_at IS NOT NULL AND asks = 0').pluck(),
      pendingAgain: db.prepare('SELECT count(*) FROM entries WHERE due_at IS NOT NULL AND asks > 0').pluck(),
      count: db.prepare('SELECT count(*) FROM entries').pluck(),
      pruneEntries: db.prepare('DELETE FROM entries WHERE id IN (SELECT id FROM entries WHERE day < ? LIMIT ?)'),
      pruneDays: db.prepare('DELETE FROM days WHERE day < ?'),
      pruneTallies: db.prepare('DELETE FROM tallies WHERE day < ? OR n <= 0'),
      days: db.prepare('SELECT day, considered, sampled FROM days ORDER BY day DESC'),
      tallies: db.prepare('SELECT day, endpoint, status, n FROM tallies WHERE n > 0 ORDER BY day DESC, endpoint, status'),
      divergentTotal: db.prepare('SELECT coalesce(sum(n), 0) FROM tallies WHERE status = ?').pluck(),
      // Literal statuses, so the partial index serves the order (no sort of every divergent row).
      divergentBoth: db.prepare(
        `SELECT * FROM entries INDEXED BY entries_divergent WHERE status IN ('UNPAIRED', 'PAIRED_INCONSISTENT') ORDER BY answered_at DESC, id DESC LIMIT ? OFFSET ?`,
      ),
      divergentOne: db.prepare('SELECT * FROM entries WHERE status = ? ORDER BY answered_at DESC, id DESC LIMIT ? OFFSET ?'),
    };
    this.entries = this.statements.count.get() as number;
  }

  /** Entries kept, plus those waiting for the next flush. */
  get size(): number {
    return this.entries + this.newEntries.length;
  }

  /** Accepted private reports of `day` that the sample considered (taken or not). Buffered. */
  consider(day: number, reports: number): void {
    this.considered.set(day, (this.considered.get(day) ?? 0) + reports);
  }

  /** A sampled report to follow. Buffered; a report already followed (same lane and fapiInteractionId) is ignored. */
  add(entry: NewEntry): void {
    this.newEntries.push(entry);
  }

  /** The outcome of an ask. Buffered. */
  update(update: EntryUpdate): void {
    this.updates.push(update);
  }

  /** Writes what was buffered in one transaction; returns the earliest due time of the entries it added (or null). */
  flush(): number | null {
    if (this.newEntries.length === 0 && this.updates.length === 0 && this.considered.size === 0) return null;
    const entries = this.newEntries;
    const updates = this.updates;
    const considered = this.considered;
    this.newEntries = [];
    this.updates = [];
    this.considered = new Map();
    const s = this.statements;
    try {
      return this.write(entries, updates, considered);
    } catch (err) {
      // What the failed transaction held is lost (an estimate loses a few samples); the count is read again.
      this.entries = s.count.get() as number;
      throw err;
    }
  }

  private write(entries: readonly NewEntry[], updates: readonly EntryUpdate[], considered: ReadonlyMap<number, number>): number | null {
    const s = this.statements;
    return this.db.transaction(() => {
      const sampled = new Map<number, number>();
      let earliest: number | null = null;
      for (const e of entries) {
        const { changes } = s.insert.run(e.lane, e.fapiInteractionId, e.role, e.endpoint, e.httpMethod, e.statusCode, e.counterpartOrgId, e.at, e.day, e.acceptedAt, e.reportId, e.dueAt);
        if (changes === 0) continue;
        this.entries++;
        sampled.set(e.day, (sampled.get(e.day) ?? 0) + 1);
        s.tally.run(e.day, e.endpoint, SAMPLED, 1);
        earliest = earliest === null ? e.dueAt : Math.min(earliest, e.dueAt);
      }
      for (const day of new Set([...considered.keys(), ...sampled.keys()])) s.day.run(day, considered.get(day) ?? 0, sampled.get(day) ?? 0);
      for (const u of updates) {
        if (u.status === null) {
          s.unanswered.run(u.failed ? 1 : 0, u.dueAt, u.entry.id);
          continue;
        }
        const differing = u.differing && u.differing.length > 0 ? JSON.stringify(u.differing) : null;
        // An entry pruned meanwhile changes nothing, tallies included.
        if (s.answered.run(u.status, differing, u.pairedReportId, u.at, u.dueAt, u.entry.id).changes === 0) continue;
        if (u.entry.status === u.status) continue;
        if (u.entry.status !== null) s.tally.run(u.entry.day, u.entry.endpoint, u.entry.status, -1);
        s.tally.run(u.entry.day, u.entry.endpoint, u.status, 1);
      }
      return earliest;
    })();
  }

  /** Entries due at `now`, first asks before asks again (so re-asks cannot starve new reports), oldest due first. */
  due(now: number, limit: number): DueEntry[] {
    this.flush();
    const first = this.statements.dueFirst.all(now, limit) as EntryRow[];
    const again = first.length < limit ? (this.statements.dueAgain.all(now, limit - first.length) as EntryRow[]) : [];
    return [...first, ...again].map((r) => ({
      id: r.id,
      lane: r.lane,
      fapiInteractionId: r.fapi,
      endpoint: r.endpoint,
      at: r.at,
      day: r.day,
      status: r.status as RecordedStatus | null,
      asks: r.asks,
      errors: r.errors,
    }));
  }

  /** The earliest due time of an entry in the file; null when none waits. */
  nextDue(): number | null {
    const times = [this.statements.nextFirst.get(), this.statements.nextAgain.get()].filter((t): t is number => typeof t === 'number');
    return times.length === 0 ? null : Math.min(...times);
  }

  /** Entries waiting for their first ask, and for another one. */
  pending(): { first: number; again: number } {
    return { first: this.statements.pendingFirst.get() as number, again: this.statements.pendingAgain.get() as number };
  }

  /**
   * Deletes entries of days before `day`, at most PRUNE_CHUNK of them; once none is left, those days' counts and
   * tallies too. Returns the entries deleted (PRUNE_CHUNK: call again).
   */
  prune(day: number): number {
    this.flush();
    return this.db.transaction(() => {
      const deleted = this.statements.pruneEntries.run(day, PRUNE_CHUNK).changes;
      if (deleted < PRUNE_CHUNK) {
        this.statements.pruneDays.run(day);
        this.statements.pruneTallies.run(day);
      }
      this.entries -= deleted;
      return deleted;
    })();
  }

  days(): { days: DayRow[]; tallies: TallyRow[] } {
    return { days: this.statements.days.all() as DayRow[], tallies: this.statements.tallies.all() as TallyRow[] };
  }

  /** UNPAIRED and PAIRED_INCONSISTENT reports (or one of them), last answered first, one page. */
  divergent(query: DivergentQuery): { total: number; data: DivergentReport[] } {
    const s = this.statements;
    const statuses: readonly DivergentStatus[] = query.status ? [query.status] : DIVERGENT_STATUSES;
    // The tallies count entries by last status exactly: no scan for the total.
    const total = statuses.reduce((sum, status) => sum + (s.divergentTotal.get(status) as number), 0);
    const rows = (query.status ? s.divergentOne.all(query.status, query.limit, query.offset) : s.divergentBoth.all(query.limit, query.offset)) as EntryRow[];
    return {
      total,
      data: rows.map((r) => ({
        fapiInteractionId: r.fapi,
        lane: r.lane,
        role: r.role,
        endpoint: r.endpoint,
        httpMethod: r.http_method,
        statusCode: r.status_code,
        counterpartOrgId: r.counterpart_org,
        timestamp: new Date(r.at).toISOString(),
        day: dayLabel(r.day),
        status: r.status as DivergentStatus,
        differingFields: r.differing === null ? null : (JSON.parse(r.differing) as string[]),
        pairedReportId: r.paired_report_id,
        reportId: r.report_id,
        asks: r.asks,
        answeredAt: r.answered_at === null ? null : new Date(r.answered_at).toISOString(),
        final: r.due_at === null,
      })),
    };
  }

  /** Writes what is buffered and closes the file. */
  close(): void {
    if (!this.db.open) return;
    this.flush();
    this.db.close();
  }
}
