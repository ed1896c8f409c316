import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { SpoolFullError } from '../errors.js';
import { GroupCommitter } from './group-commit.js';

/**
 * The durable spool: every accepted report is a row in SQLite (WAL) before the gateway hears "202".
 * Rows move pending → inflight (leased to one batch) → accepted | discarded. A crash leaves rows inflight;
 * opening the spool returns them to pending, which is the only source of duplicates at the PCM.
 */

export type ReportState = 'pending' | 'inflight' | 'accepted' | 'discarded';
export const REPORT_STATES: readonly ReportState[] = ['pending', 'inflight', 'accepted', 'discarded'];

export type SyncMode = 'full' | 'normal';

export interface SpoolOptions {
  path: string;
  sync: SyncMode;
  /** Largest database file; past it ingest answers 503 (after delivered rows were pruned to make room). */
  maxBytes?: number | undefined;
  /**
   * Return rows left in flight by a previous process to pending (the running sidecar does; a command that opens the
   * spool next to a running sidecar must not, or it would hand that sidecar's batches out twice).
   */
  recoverInflight?: boolean;
  /**
   * Caps on the quarantine as a whole (items refused by ingest): past either, the oldest items are deleted until it
   * is back under 90 % of both, so hostile traffic cannot fill the spool. Undefined: no cap.
   */
  quarantineMaxRows?: number | undefined;
  quarantineMaxBytes?: number | undefined;
  /** Told how many quarantined items a cap just deleted (the sidecar logs and counts it). */
  onQuarantineEvicted?: (items: number) => void;
}

export type Stream = 'private' | 'opendata';

/** A sender lane: one organisation's token, one PCM report API. Rows are leased per lane. */
export function laneOf(stream: Stream, orgId: string): string {
  return `${stream}:${orgId}`;
}

export interface NewReport {
  stream: Stream;
  orgId: string;
  /** Identity for de-duplication; stored as the first 16 bytes of its SHA-256 to keep the unique index small. */
  dedupKey: string;
  fapiInteractionId: string | null;
  json: string;
  /** Normalisation repairs applied to this report (src/report/normalise.ts), kept for inspection. */
  repairs: readonly string[];
  /** Quality findings sent along with it (JSON list of {field, rule, message}), null when none. */
  findings?: string | null;
}

export interface RejectedItem {
  source: string;
  /** The ingest route it came in on, so a replay knows how to read it again. */
  route: string;
  /** The item as received, re-serialised. */
  item: string;
  problems: string;
}

export interface WriteRequest {
  reports: readonly NewReport[];
  rejected: readonly RejectedItem[];
}

/** Per report of the request, in order: stored now, or already in the spool. */
export type WriteOutcome = ('stored' | 'duplicate')[];

export interface LeasedRow {
  id: number;
  body: string;
}

export interface LeasedBatch {
  lane: string;
  rows: LeasedRow[];
  /** Serialised size of the batch body `[a,b,…]`. */
  bytes: number;
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

export interface RowResult {
  id: number;
  state: 'accepted' | 'discarded';
  reportId: string | null;
  message: string | null;
}

export interface AddedRows {
  rows: number;
  bytes: number;
}

/** The head of one organisation's backlog: at most one page of rows, so the query stays bounded. */
export interface PendingSummary {
  count: number;
  bytes: number;
  oldestCreatedAt: number | null;
}

const SCHEMA_VERSION = 2;
/** Delivered rows deleted at once when the spool is full, before the write is tried again. */
const FULL_PRUNE_ROWS = 50_000;
/** Room kept under PCM_SPOOL_MAX_BYTES for the sender's own writes (leases, results): ingest stops before it. */
const SENDER_RESERVE_FRACTION = 0.1;
const SENDER_RESERVE_MIN_BYTES = 256 * 1024;

function openDatabase(options: SpoolOptions): Database.Database {
  const db = new Database(options.path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('busy_timeout = 5000');
    if (options.maxBytes !== undefined) {
      const pageSize = db.pragma('page_size', { simple: true }) as number;
      db.pragma(`max_page_count = ${Math.max(16, Math.ceil(options.maxBytes / pageSize))}`);
    }
    if ((db.pragma('user_version', { simple: true }) as number) < SCHEMA_VERSION) {
      // IMMEDIATE, and the version read again inside: two processes opening an old file at once migrate it once.
      db.transaction(() => {
        const version = db.pragma('user_version', { simple: true }) as number;
        if (version < 1) db.exec(MIGRATIONS);
        if (version < 2) db.exec(MIGRATION_2);
        if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function isUnreadableDatabase(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT');
}

function isFull(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_WRITE';
}

/** Renames the spool and its WAL/SHM files to `<path>.corrupt-<time>`; returns the new path. */
function moveAside(path: string): string {
  const target = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(path + suffix)) renameSync(path + suffix, target + suffix);
  }
  return target;
}

const MIGRATIONS = `
CREATE TABLE IF NOT EXISTS reports (
  id                  INTEGER PRIMARY KEY,
  stream              TEXT    NOT NULL DEFAULT 'private',
  org_id              TEXT    NOT NULL,
  lane                TEXT    NOT NULL,
  dedup_key           BLOB    NOT NULL UNIQUE,
  fapi_interaction_id TEXT,
  body                TEXT    NOT NULL,
  repairs             TEXT,
  bytes               INTEGER NOT NULL,
  state               TEXT    NOT NULL DEFAULT 'pending',
  attempts            INTEGER NOT NULL DEFAULT 0,
  last_error          TEXT,
  report_id           TEXT,
  pcm_message         TEXT,
  created_at          INTEGER NOT NULL,
  updated_at          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_pending ON reports (lane, id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS reports_inflight ON reports (id) WHERE state = 'inflight';
CREATE INDEX IF NOT EXISTS reports_fapi ON reports (fapi_interaction_id);
CREATE TABLE IF NOT EXISTS quarantine (
  id          INTEGER PRIMARY KEY,
  received_at INTEGER NOT NULL,
  source      TEXT    NOT NULL,
  route       TEXT    NOT NULL,
  item        TEXT    NOT NULL,
  problems    TEXT    NOT NULL
);
`;

/**
 * 2: quality findings kept with each report; identical refused items (same route, item and problems) folded into
 * one quarantine row with a count, so a shipper that re-posts a chunk cannot multiply them. Rows from version 1
 * have no hash and stay as they are.
 */
const MIGRATION_2 = `
ALTER TABLE reports ADD COLUMN findings TEXT;
ALTER TABLE quarantine ADD COLUMN item_hash BLOB;
ALTER TABLE quarantine ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE quarantine ADD COLUMN last_seen_at INTEGER;
CREATE UNIQUE INDEX IF NOT EXISTS quarantine_item ON quarantine (item_hash);
`;

/** A report's de-duplication key as stored: the first 16 bytes of its SHA-256, to keep the unique index small. */
function dedupHash(dedupKey: string): Buffer {
  return createHash('sha256').update(dedupKey).digest().subarray(0, 16);
}

/**
 * What makes two refused items the same for folding: route, request (method and URL with its query: `?orgId=` and
 * `?role=` change what the item means on replay), item and problems. Not the caller's address.
 */
export function quarantineHash(item: Pick<RejectedItem, 'source' | 'route' | 'item' | 'problems'>): Buffer {
  const request = item.source.slice(item.source.indexOf(' ') + 1);
  return createHash('sha256').update(item.route).update('\0').update(request).update('\0').update(item.item).update('\0').update(item.problems).digest().subarray(0, 16);
}

export class Spool {
  readonly path: string;
  /** Rows that were in flight when the previous process stopped and went back to pending at open. */
  readonly recoveredInflight: number;
  /** Where an unreadable spool file was moved at open, if one was. */
  readonly movedAside: string | null = null;
  /** Pages ingest may use; the rest up to maxBytes is kept for the sender (null: no cap). */
  private readonly ingestPageLimit: number | null = null;
  private readonly db: Database.Database;
  private readonly committer: GroupCommitter<WriteRequest, WriteOutcome>;
  private readonly statements;
  private readonly listeners = new Set<(added: ReadonlyMap<string, AddedRows>) => void>();
  private readonly quarantineCaps: { rows: number; bytes: number };
  private readonly onQuarantineEvicted: ((items: number) => void) | undefined;
  /**
   * What the quarantine holds, counted as items are added: a cheap trigger only. Other processes (`quarantine
   * replay`) delete items too, so the cap is applied on a fresh count, never on this one alone.
   */
  private quarantineUsage: { rows: number; bytes: number };
  /** Items the caps deleted in the transaction being committed. */
  private evictedInCommit = 0;

  constructor(options: SpoolOptions) {
    this.path = options.path;
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    let db: Database.Database;
    try {
      db = openDatabase(options);
    } catch (err) {
      // A file SQLite cannot read would fail every start: move it aside (kept for forensics) and begin anew.
      if (!isUnreadableDatabase(err) || options.path === ':memory:') throw err;
      this.movedAside = moveAside(options.path);
      db = openDatabase(options);
    }
    this.db = db;
    this.statements = {
      insert: db.prepare(
        `INSERT INTO reports (stream, org_id, lane, dedup_key, fapi_interaction_id, body, repairs, findings, bytes, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (dedup_key) DO UPDATE SET
           body = excluded.body, bytes = excluded.bytes, repairs = excluded.repairs, findings = excluded.findings, state = 'pending', attempts = 0,
           last_error = NULL, report_id = NULL, pcm_message = NULL, updated_at = excluded.updated_at
         WHERE reports.state = 'discarded' AND reports.body != excluded.body`,
      ),
      quarantine: db.prepare(
        `INSERT INTO quarantine (received_at, last_seen_at, source, route, item, problems, item_hash) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (item_hash) DO UPDATE SET count = count + 1, last_seen_at = excluded.last_seen_at, source = excluded.source
         RETURNING count, length(CAST(item AS BLOB)) + length(CAST(problems AS BLOB)) AS bytes`,
      ),
      quarantineUsage: db.prepare('SELECT count(*) AS rows, coalesce(sum(length(CAST(item AS BLOB)) + length(CAST(problems AS BLOB))), 0) AS bytes FROM quarantine'),
      quarantineEvict: db.prepare('DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine ORDER BY id LIMIT ?)'),
      pendingPage: db.prepare(
        `SELECT id, body, bytes FROM reports INDEXED BY reports_pending WHERE state = 'pending' AND lane = ? ORDER BY id LIMIT ?`,
      ),
      lease: db.prepare(
        `UPDATE reports SET state = 'inflight', attempts = attempts + 1, updated_at = ?
         WHERE state = 'pending' AND lane = ? AND id BETWEEN ? AND ?`,
      ),
      complete: db.prepare(
        `UPDATE reports SET state = ?, report_id = ?, pcm_message = ?, last_error = NULL, updated_at = ? WHERE id = ? AND state = 'inflight'`,
      ),
      release: db.prepare(
        `UPDATE reports SET state = 'pending', last_error = ?, updated_at = ? WHERE id = ? AND state = 'inflight'`,
      ),
      recover: db.prepare(`UPDATE reports SET state = 'pending', updated_at = ? WHERE state = 'inflight'`),
      pendingHead: db.prepare(
        `SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b, min(created_at) AS t
         FROM (SELECT bytes, created_at FROM reports INDEXED BY reports_pending
               WHERE state = 'pending' AND lane = ? ORDER BY id LIMIT ?)`,
      ),
      pendingOrgs: db.prepare(
        `SELECT DISTINCT lane AS o FROM reports INDEXED BY reports_pending WHERE state = 'pending'`,
      ),
      counts: db.prepare('SELECT state, count(*) AS n FROM reports GROUP BY state'),
      backlog: db.prepare(
        `SELECT (SELECT count(*) FROM reports INDEXED BY reports_pending WHERE state = 'pending') AS pending,
                (SELECT count(*) FROM reports INDEXED BY reports_inflight WHERE state = 'inflight') AS inflight`,
      ),
      prune: db.prepare(
        `DELETE FROM reports WHERE id IN (
           SELECT id FROM reports WHERE state IN ('accepted', 'discarded') AND updated_at < ? ORDER BY id LIMIT ?)`,
      ),
      quarantineCount: db.prepare('SELECT count(*) AS n FROM quarantine'),
      quarantinePage: db.prepare(
        `SELECT id, received_at AS receivedAt, count, coalesce(last_seen_at, received_at) AS lastSeenAt, source, route, item, problems
         FROM quarantine WHERE id > ? ORDER BY id LIMIT ?`,
      ),
      quarantineDelete: db.prepare('DELETE FROM quarantine WHERE id = ?'),
      quarantinePrune: db.prepare(
        'DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE coalesce(last_seen_at, received_at) < ? ORDER BY id LIMIT ?)',
      ),
      // New problems make it a different item for folding: drop the hash rather than collide with a newer row.
      // Refreshed problems make it the item it now is; if another row already is that item, this one stops folding.
      quarantineProblems: db.prepare('UPDATE OR IGNORE quarantine SET problems = ?, item_hash = ? WHERE id = ?'),
      quarantineProblemsUnfolded: db.prepare('UPDATE quarantine SET problems = ?, item_hash = NULL WHERE id = ?'),
      quarantineRow: db.prepare('SELECT source, route, item FROM quarantine WHERE id = ?'),
    };

    this.recoveredInflight = options.recoverInflight === false ? 0 : this.statements.recover.run(Date.now()).changes;
    this.quarantineCaps = { rows: options.quarantineMaxRows ?? Number.POSITIVE_INFINITY, bytes: options.quarantineMaxBytes ?? Number.POSITIVE_INFINITY };
    this.onQuarantineEvicted = options.onQuarantineEvicted;
    this.quarantineUsage = this.statements.quarantineUsage.get() as { rows: number; bytes: number };
    if (options.maxBytes !== undefined) {
      const pageSize = db.pragma('page_size', { simple: true }) as number;
      const reserve = Math.max(SENDER_RESERVE_MIN_BYTES, options.maxBytes * SENDER_RESERVE_FRACTION);
      this.ingestPageLimit = Math.max(16, Math.floor((options.maxBytes - reserve) / pageSize));
    }
    this.committer = new GroupCommitter((requests) => this.commit(requests));
  }

  /** Stores reports and rejected items durably; resolves only after the transaction holding them has committed. */
  write(request: WriteRequest): Promise<WriteOutcome> {
    return this.committer.submit(request);
  }

  /** Called after each commit with the pending rows it added, per lane. */
  onCommitted(listener: (added: ReadonlyMap<string, AddedRows>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** One page of quarantined items, oldest first, after `afterId`. */
  quarantined(afterId: number, limit: number): QuarantinedItem[] {
    return this.statements.quarantinePage.all(afterId, limit) as QuarantinedItem[];
  }

  /**
   * Moves items out of quarantine: the reports they now make are stored and the quarantine rows deleted, in one
   * transaction, so a crash cannot lose or double an item. Items still failing get their latest problems recorded.
   */
  promote(
    moved: readonly { quarantineId: number; report: NewReport }[],
    stillFailing: readonly { quarantineId: number; problems: string }[],
    dropped: readonly number[] = [],
  ): WriteOutcome {
    const { quarantineDelete, quarantineProblems, quarantineProblemsUnfolded, quarantineRow } = this.statements;
    const [outcome] = this.db.transaction(() => {
      for (const f of stillFailing) {
        const row = quarantineRow.get(f.quarantineId) as { source: string; route: string; item: string } | undefined;
        if (row === undefined) continue;
        if (quarantineProblems.run(f.problems, quarantineHash({ ...row, problems: f.problems }), f.quarantineId).changes === 0) {
          quarantineProblemsUnfolded.run(f.problems, f.quarantineId);
        }
      }
      for (const m of moved) quarantineDelete.run(m.quarantineId);
      for (const id of dropped) quarantineDelete.run(id);
      return this.commit([{ reports: moved.map((m) => m.report), rejected: [] }]);
    })();
    return outcome as WriteOutcome;
  }

  private commit(requests: readonly WriteRequest[]): WriteOutcome[] {
    const now = Date.now();
    this.evictedInCommit = 0;
    const touched = new Map<string, AddedRows>();
    const { insert, quarantine } = this.statements;
    const run = this.db.transaction(() =>
      requests.map((request) => {
        for (const rejected of request.rejected) {
          const row = quarantine.get(now, now, rejected.source, rejected.route, rejected.item, rejected.problems, quarantineHash(rejected)) as {
            count: number;
            bytes: number;
          };
          if (row.count === 1) {
            this.quarantineUsage.rows++;
            this.quarantineUsage.bytes += row.bytes;
          }
        }
        if (request.rejected.length > 0) this.capQuarantine();
        return request.reports.map((report): 'stored' | 'duplicate' => {
          const bytes = Buffer.byteLength(report.json);
          const key = dedupHash(report.dedupKey);
          const lane = laneOf(report.stream, report.orgId);
          const repairs = report.repairs.length > 0 ? JSON.stringify(report.repairs) : null;
          const info = insert.run(report.stream, report.orgId, lane, key, report.fapiInteractionId, report.json, repairs, report.findings ?? null, bytes, now, now);
          if (info.changes === 0) return 'duplicate';
          const added = touched.get(lane);
          if (added) {
            added.rows++;
            added.bytes += bytes;
          } else {
            touched.set(lane, { rows: 1, bytes });
          }
          return 'stored';
        });
      }),
    );
    let outcomes: WriteOutcome[];
    try {
      if (this.overIngestLimit() && this.pruneDelivered(Number.POSITIVE_INFINITY, FULL_PRUNE_ROWS) === 0 && this.overIngestLimit()) {
        throw Object.assign(new Error('ingest share of PCM_SPOOL_MAX_BYTES used'), { code: 'SQLITE_FULL' });
      }
      outcomes = run();
    } catch (err) {
      if (!isFull(err)) throw err;
      // Delivered rows only serve de-duplication: under pressure they go first, undelivered ones never.
      const freed = this.pruneDelivered(Number.POSITIVE_INFINITY, FULL_PRUNE_ROWS);
      touched.clear();
      // The rolled-back attempt deleted nothing and counted items it did not keep: count afresh.
      this.evictedInCommit = 0;
      this.quarantineUsage = this.statements.quarantineUsage.get() as { rows: number; bytes: number };
      try {
        if (freed === 0) throw err;
        outcomes = run();
      } catch (again) {
        if (!isFull(again)) throw again;
        throw new SpoolFullError('the spool is full (disk or PCM_SPOOL_MAX_BYTES) and holds only undelivered reports; nothing from this request was stored', {
          cause: again,
        });
      }
    }
    if (touched.size > 0) for (const listener of this.listeners) listener(touched);
    if (this.evictedInCommit > 0) this.onQuarantineEvicted?.(this.evictedInCommit);
    this.evictedInCommit = 0;
    return outcomes;
  }

  /** Deletes the oldest quarantined items while the quarantine is over a cap, down to 90 % of both. */
  private capQuarantine(): void {
    const caps = this.quarantineCaps;
    if (this.quarantineUsage.rows <= caps.rows && this.quarantineUsage.bytes <= caps.bytes) return;
    let usage = this.statements.quarantineUsage.get() as { rows: number; bytes: number };
    let evicted = 0;
    while (usage.rows > caps.rows * 0.9 || usage.bytes > caps.bytes * 0.9) {
      const share = Math.max(usage.rows - caps.rows * 0.9, usage.rows * (1 - (caps.bytes * 0.9) / Math.max(1, usage.bytes)));
      const deleted = this.statements.quarantineEvict.run(Math.max(1, Math.min(10_000, Math.ceil(share)))).changes;
      if (deleted === 0) break;
      evicted += deleted;
      usage = this.statements.quarantineUsage.get() as { rows: number; bytes: number };
    }
    this.quarantineUsage = usage;
    // Told after the commit (commit()): a transaction rolled back deleted nothing.
    this.evictedInCommit += evicted;
  }

  /** True when the pages in use (free pages excluded) reach ingest's share of maxBytes. */
  private overIngestLimit(): boolean {
    if (this.ingestPageLimit === null) return false;
    const used = (this.db.pragma('page_count', { simple: true }) as number) - (this.db.pragma('freelist_count', { simple: true }) as number);
    return used >= this.ingestPageLimit;
  }

  /** How much is waiting in one lane, looking at no more than `limit` rows. */
  pending(lane: string, limit: number): PendingSummary {
    const row = this.statements.pendingHead.get(lane, limit) as { n: number; b: number; t: number | null };
    return { count: row.n, bytes: row.b, oldestCreatedAt: row.t };
  }

  /** Lanes with pending rows (e.g. spooled for an organisation no longer configured). */
  pendingLanes(): string[] {
    return (this.statements.pendingOrgs.all() as { o: string }[]).map((r) => r.o);
  }

  /**
   * Leases the oldest pending rows of one lane, up to `maxItems` rows and `maxBytes` of body
   * (always at least one row). Reads one bounded page; never the whole backlog.
   */
  lease(lane: string, maxItems: number, maxBytes: number): LeasedBatch | null {
    const take = this.db.transaction((): LeasedBatch | null => {
      const rows: LeasedRow[] = [];
      let bytes = 2; // the brackets of the array
      for (const row of this.statements.pendingPage.iterate(lane, maxItems) as Iterable<{
        id: number;
        body: string;
        bytes: number;
      }>) {
        const added = row.bytes + (rows.length > 0 ? 1 : 0);
        if (rows.length > 0 && bytes + added > maxBytes) break;
        rows.push({ id: row.id, body: row.body });
        bytes += added;
      }
      if (rows.length === 0) return null;
      const first = rows[0] as LeasedRow;
      const last = rows[rows.length - 1] as LeasedRow;
      this.statements.lease.run(Date.now(), lane, first.id, last.id);
      return { lane, rows, bytes };
    });
    return take();
  }

  /** Records the PCM's answer per row. */
  complete(results: readonly RowResult[]): void {
    const now = Date.now();
    const { complete } = this.statements;
    this.db.transaction(() => {
      for (const r of results) complete.run(r.state, r.reportId, r.message, now, r.id);
    })();
  }

  /** Returns leased rows to pending (after a failed attempt, or on shutdown), keeping why. */
  release(ids: readonly number[], lastError: string | null): void {
    const now = Date.now();
    const { release } = this.statements;
    this.db.transaction(() => {
      for (const id of ids) release.run(lastError, now, id);
    })();
  }

  /** Rows not yet delivered and items in quarantine: read from partial indexes, cheap at any spool size. */
  backlog(): { pending: number; inflight: number; quarantined: number } {
    const row = this.statements.backlog.get() as { pending: number; inflight: number };
    return { ...row, quarantined: (this.statements.quarantineCount.get() as { n: number }).n };
  }

  /** Every state, delivered ones included: a scan of the table, for status pages and tests, not for metrics. */
  counts(): Record<ReportState, number> & { quarantined: number } {
    const out = { pending: 0, inflight: 0, accepted: 0, discarded: 0, quarantined: 0 };
    for (const row of this.statements.counts.all() as { state: ReportState; n: number }[]) out[row.state] = row.n;
    out.quarantined = (this.statements.quarantineCount.get() as { n: number }).n;
    return out;
  }

  /**
   * Deletes up to `limit` delivered rows (accepted or discarded) last touched before `before`, oldest first.
   * Pending and in-flight rows are never pruned. Returns how many went.
   */
  pruneDelivered(before: number, limit: number): number {
    return this.statements.prune.run(before, limit).changes;
  }

  /** Deletes up to `limit` quarantined items received before `before`, oldest first. Returns how many went. */
  pruneQuarantine(before: number, limit: number): number {
    return this.statements.quarantinePrune.run(before, limit).changes;
  }

  /** Waits for writes already submitted, then closes the database (checkpointing the WAL). */
  async close(): Promise<void> {
    await this.committer.drain();
    this.db.close();
  }
}
