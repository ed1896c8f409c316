import type Database from 'better-sqlite3';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULTS } from '../config/defaults.js';
import { Appender, quarantineHash, type AppenderOptions } from './appender.js';
import { GroupCommitter } from './group-commit.js';
import { LaneLedger } from './ledger.js';
import { brtDay, dayDeadline, type DayCounts } from './days.js';
import { AnswerTally, COUNTED_KEY, endpointInSql, endpointInText, endpointKey } from './endpoint-days.js';
import { LedgerReader } from './ledger-read.js';
import { LedgerStore, type DeadLetterReason, type LedgerOp } from './ledger-store.js';
import { DeliveredPruner } from './prune.js';
import { SpoolQueries, type DeadLetter, type DeadLetterQuery, type QuarantinedItem } from './queries.js';
import { RangeSet, runsOf, type Range, type RangeDiff } from './ranges.js';
import { laneBase, LANE_BITS, LANE_SPAN, laneNoOf, openDatabase, type OpenOptions } from './schema.js';
import type { AddedRows, CommitResult, NewReport, ReportState, SyncMode, WriteOutcome, WriteRequest } from './types.js';
import { WriterThread } from './writer-thread.js';

export * from './types.js';
export type { DeadLetterReason } from './ledger-store.js';
export type { DayCounts } from './days.js';
export type { Range } from './ranges.js';
export {
  LISTED_STATES,
  type DeadLetter,
  type DeadLetterQuery,
  type EndpointDay,
  type EndpointDays,
  type ListedState,
  type QuarantinedItem,
  type ReportFilter,
  type SpoolQueries,
  type StoredReport,
} from './queries.js';
export { quarantineHash };

/**
 * The durable spool: every accepted report is appended to its lane's log in SQLite (WAL) before the gateway hears
 * "202". The sender leases ranges of a lane, oldest first; the PCM's answers are recorded per batch piece. A crash
 * leaves leases behind; opening the spool returns them to pending, which is the only source of duplicates at the PCM.
 * Layout: schema.ts. Write path: appender.ts (on the writer thread when `writerThread` is set).
 */

export interface SpoolOptions {
  path: string;
  sync: SyncMode;
  /** Largest database file; past it ingest answers 503 (after delivered rows were pruned to make room). */
  maxBytes?: number | undefined;
  /**
   * Opened beside the spool's owner (the running sidecar): by a command, a replay of the admin API, a benchmark's
   * reader. A guest leaves the leases it finds alone (returning them to pending would hand the owner's batches out
   * twice) and never moves an unreadable file aside (the owner has it open); the owner does both at start.
   */
  guest?: boolean;
  /**
   * Caps on the quarantine as a whole (items refused by ingest): past either, the oldest items are deleted until it
   * is back under 90 % of both, so hostile traffic cannot fill the spool. Undefined: no cap.
   */
  quarantineMaxRows?: number | undefined;
  quarantineMaxBytes?: number | undefined;
  /** Told how many quarantined items a cap just deleted (the sidecar logs and counts it). */
  onQuarantineEvicted?: (items: number) => void;
  /** Report keys the de-duplication window remembers (dedup-window.ts). */
  dedupWindow?: number | undefined;
  /** Commit on a worker thread (Spool.open), so fsync never blocks the event loop. */
  writerThread?: boolean;
  /**
   * The PCM's age limit (rules.maxAgeMs): a report older than this when its turn comes is not sent but kept as a
   * dead letter (`too-old`). Undefined: no limit (commands that never lease).
   */
  maxAgeMs?: number | undefined;
  /** A report stored this long after its timestamp is late: sent before older arrivals whose timestamp is newer. */
  lateArrivalMs?: number | undefined;
  /** Told the rows of a lane that just became `too-old` dead letters, with the message recorded for them (alerts). */
  onTooOld?: (lane: string, bodies: readonly string[], message: string) => void;
  /** WAL size kept after a checkpoint empties it (schema.ts WAL_SIZE_LIMIT_BYTES unless given). */
  walLimitBytes?: number | undefined;
  /** The clock of leases, answers and the age limit (tests drive it). */
  now?: () => number;
  /** Told when the writer thread stops unexpectedly (nothing more can be stored). */
  onWriterFailure?: (err: Error) => void;
  /**
   * Told when the writer thread could not record ledger changes (leases, answers): the reports are safe, but after a
   * restart the batches concerned are sent again.
   */
  onLedgerError?: (err: Error) => void;
}

export interface LeasedRow {
  id: number;
  body: string;
  /** The report's timestamp (epoch ms; its arrival here for rows stored before it was kept). */
  at: number;
  /** The `endpoint` in its body ('' when none), cut to MAX_ENDPOINT_CHARS: what its answer is counted under. */
  endpoint: string;
}

export interface LeasedBatch {
  lane: string;
  rows: LeasedRow[];
  /** Serialised size of the batch body `[a,b,…]`. */
  bytes: number;
  /**
   * Resolves once the lease is in the file. Sending after it makes a crash count this batch as recovered (and its
   * reports as resent) at the next start; sending before it only loses that bookkeeping, never a report.
   */
  recorded: Promise<void>;
}

export interface RowResult {
  id: number;
  state: 'accepted' | 'discarded';
  reportId: string | null;
  message: string | null;
  /** The leased row's `at`, for the per-day counts; without it the answer is recorded but not counted. */
  at?: number;
  /** The leased row's `endpoint`, for the per-endpoint counts (read from the log when not given). */
  endpoint?: string;
  /** A discarded row's dead-letter reason; `pcm` when not given. */
  reason?: DeadLetterReason;
}

/** The head of one organisation's backlog: at most one page of rows, so the query stays bounded. */
export interface PendingSummary {
  count: number;
  bytes: number;
  oldestCreatedAt: number | null;
}

/**
 * Text in one commit at most (UTF-16 code units): keeps a commit short, so the ledger and the next group do not
 * wait long, and far below V8's longest string (2^29 - 24), which the wire format's joined text must stay under.
 */
const MAX_GROUP_CHARS = 32 * 1024 * 1024;

/**
 * Groups handed to the writer thread before the first is answered (group-commit.ts): with two, the thread begins the
 * next transaction the moment it has committed one. In-process commits are synchronous and go one at a time anyway.
 */
const COMMIT_DEPTH = 2;

/** A row as the lease reads it: id, body, bytes, timestamp. */
type RowRead = [number, string, number, number];

/** Pages of too-old rows one lease call dead-letters before it gives up for this call (each is one bounded read). */
const MAX_TOO_OLD_PAGES = 8;

function tooOldMessage(limitMs: number, at: number): string {
  return `Not sent: older than ${Math.round(limitMs / 3_600_000)} h (the PCM's age limit) before it could be sent; its timestamp is ${new Date(at).toISOString()}`;
}

function weightOf(request: WriteRequest): number {
  let n = 0;
  for (const r of request.reports) n += r.json.length + r.dedupKey.length;
  for (const r of request.rejected) n += r.item.length + r.problems.length + r.source.length;
  return n;
}

function isUnreadableDatabase(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT');
}

/** Renames the spool and its WAL/SHM files to `<path>.corrupt-<time>`; returns the new path. */
function moveAside(path: string): string {
  const target = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(path + suffix)) renameSync(path + suffix, target + suffix);
  }
  return target;
}

export class Spool {
  readonly path: string;
  /** Reports that were in flight when the previous process stopped and went back to pending at open. */
  readonly recoveredInflight: number;
  /** Where an unreadable spool file was moved at open, if one was. */
  readonly movedAside: string | null = null;
  private readonly db: Database.Database;
  private readonly openOptions: OpenOptions;
  private readonly appenderOptions: AppenderOptions;
  private readonly statements;
  private readonly pruner: DeliveredPruner;
  private readonly ledgerStore: LedgerStore;
  private readonly ledgerReader: LedgerReader;
  private readonly lanes = new Map<string, LaneLedger>();
  private readonly committer: GroupCommitter<WriteRequest, WriteOutcome>;
  private readonly listeners = new Set<(added: ReadonlyMap<string, AddedRows>) => void>();
  private readonly onQuarantineEvicted: ((items: number) => void) | undefined;
  private readonly onTooOld: SpoolOptions['onTooOld'];
  private quarantineEvictions = 0;
  private appender: Appender | null = null;
  private readQueries: SpoolQueries | null = null;
  private writer: WriterThread | null = null;
  private readonly now: () => number;
  private readonly maxAgeMs: number | undefined;

  /** Opens the spool; with `writerThread`, also starts the writer thread and waits until it is ready. */
  static async open(options: SpoolOptions): Promise<Spool> {
    const spool = new Spool(options);
    if (options.writerThread) {
      // The ledger's own writes only decide what is sent again after a power cut (a duplicate, never a loss); the
      // reports themselves are committed by the writer thread's connection at the configured level.
      spool.db.pragma('synchronous = NORMAL');
      try {
        spool.writer = await WriterThread.start(
          { open: spool.openOptions, appender: spool.appenderOptions },
          (err) => options.onWriterFailure?.(err),
          (err) => options.onLedgerError?.(err),
        );
      } catch (err) {
        spool.db.close();
        throw err;
      }
    }
    return spool;
  }

  constructor(options: SpoolOptions) {
    this.path = options.path;
    this.now = options.now ?? Date.now;
    this.maxAgeMs = options.maxAgeMs;
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.openOptions = { path: options.path, sync: options.sync, maxBytes: options.maxBytes, walLimitBytes: options.walLimitBytes };
    let opened: ReturnType<typeof openDatabase>;
    try {
      opened = openDatabase(this.openOptions);
    } catch (err) {
      // A file SQLite cannot read would fail every start: move it aside (kept for forensics) and begin anew.
      if (!isUnreadableDatabase(err) || options.path === ':memory:' || options.guest === true) throw err;
      this.movedAside = moveAside(options.path);
      opened = openDatabase(this.openOptions);
    }
    const db = opened.db;
    this.db = db;
    this.appenderOptions = {
      dedupWindow: options.dedupWindow ?? DEFAULTS.spool.dedupWindow,
      maxBytes: options.maxBytes ?? null,
      quarantineMaxRows: options.quarantineMaxRows ?? Number.POSITIVE_INFINITY,
      quarantineMaxBytes: options.quarantineMaxBytes ?? Number.POSITIVE_INFINITY,
      lateArrivalMs: options.lateArrivalMs ?? DEFAULTS.spool.lateArrivalMs,
    };
    this.onQuarantineEvicted = options.onQuarantineEvicted;
    this.onTooOld = options.onTooOld;
    this.statements = {
      lanes: db.prepare('SELECT no, name, next, cursor FROM lanes'),
      laneNext: db.prepare('SELECT next FROM lanes WHERE no = ?').pluck(),
      rows: db.prepare('SELECT id, body, bytes, coalesce(ts, created_at) FROM log WHERE id BETWEEN ? AND ? ORDER BY id LIMIT ?').raw(),
      endpointOf: db.prepare(`SELECT ${endpointInSql('body')} FROM log WHERE id = ?`).pluck(),
      atOf: db.prepare('SELECT coalesce(ts, created_at) FROM log WHERE id = ?').pluck(),
      lateRows: db
        .prepare(
          // CROSS JOIN: `late` (a few rows per lane) drives; a plain join let the planner walk the lane's whole log.
          `SELECT g.id, g.body, g.bytes, coalesce(g.ts, g.created_at) FROM late l CROSS JOIN log g ON g.id = l.id
           WHERE l.id BETWEEN ? AND ? AND l.ts < ? ORDER BY l.ts`,
        )
        .raw(),
      // Summed in SQLite: a page of 5000 rows is never walked in JavaScript just to be counted.
      heads: db.prepare(
        'SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b, min(created_at) AS t FROM (SELECT bytes, created_at FROM log WHERE id BETWEEN ? AND ? ORDER BY id LIMIT ?)',
      ),
      clearLeases: db.prepare('DELETE FROM leases'),
      delivered: db.prepare('SELECT coalesce(sum(last - first + 1), 0) FROM deliveries').pluck(),
      discardedCount: db.prepare('SELECT count(*) FROM discarded').pluck(),
      quarantineCount: db.prepare('SELECT count(*) FROM quarantine').pluck(),
      quarantineDelete: db.prepare('DELETE FROM quarantine WHERE id = ?'),
      quarantinePrune: db.prepare(
        'DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE coalesce(last_seen_at, received_at) < ? ORDER BY id LIMIT ?)',
      ),
      // New problems make it a different item for folding: drop the hash rather than collide with a newer row.
      // Refreshed problems make it the item it now is; if another row already is that item, this one stops folding.
      quarantineProblems: db.prepare('UPDATE OR IGNORE quarantine SET problems = ?, item_hash = ? WHERE id = ?'),
      quarantineProblemsUnfolded: db.prepare('UPDATE quarantine SET problems = ?, item_hash = NULL WHERE id = ?'),
      quarantineRow: db.prepare('SELECT source, route, item FROM quarantine WHERE id = ?'),
      days: db.prepare(
        `SELECT d.day, n.name AS lane, d.received, d.delivered, d.on_time AS onTime, d.discarded, d.too_old AS tooOld
         FROM days d JOIN lanes n ON n.no = d.lane WHERE d.day >= ? ORDER BY d.day, n.name`,
      ),
      markReplayed: db.prepare('UPDATE discarded SET replayed_at = ? WHERE id = ?'),
      deadLetterDay: db.prepare(
        `SELECT x.reason, coalesce(l.ts, l.created_at) AS at, ${endpointInSql('l.body')} AS endpoint FROM discarded x JOIN log l ON l.id = x.id WHERE x.id = ?`,
      ),
      // Under the key its answer was counted under (ledger-store.ts): the dead letter leaves its endpoint's day.
      unEndpointDay: db.prepare(
        `WITH k (day, endpoint) AS (VALUES (?, ?))
         UPDATE endpoint_days SET received = max(0, received - 1), discarded = max(0, discarded - ?), too_old = max(0, too_old - ?)
         WHERE day = (SELECT day FROM k) AND endpoint = ${COUNTED_KEY}`,
      ),
      unDeadLetter: db.prepare(
        'UPDATE days SET received = max(0, received - 1), discarded = max(0, discarded - ?), too_old = max(0, too_old - ?) WHERE day = ? AND lane = ?',
      ),
      deadLetterCounts: db.prepare(
        `SELECT n.name AS lane, x.reason, count(*) AS count FROM discarded x JOIN lanes n ON n.no = (x.id >> ${LANE_BITS})
         WHERE x.replayed_at IS NULL GROUP BY n.name, x.reason`,
      ),
      keyblockSizes: db.prepare('SELECT seq, n FROM keyblocks ORDER BY seq DESC').raw(),
      keyblocksPrune: db.prepare('DELETE FROM keyblocks WHERE seq IN (SELECT seq FROM keyblocks WHERE seq < ? ORDER BY seq LIMIT ?)'),
    };
    this.pruner = new DeliveredPruner(db);
    this.ledgerStore = new LedgerStore(db);
    this.ledgerReader = new LedgerReader(db);
    this.recoveredInflight = opened.migratedInflight + this.loadLedger(options.guest !== true);
    this.committer = new GroupCommitter(
      (requests) => {
        if (this.writer) return this.writer.commit(requests).then((result) => this.committed(result));
        this.appender ??= new Appender(this.db, this.appenderOptions, this.now);
        return this.committed(this.appender.commit(requests));
      },
      { limit: { weigh: weightOf, max: MAX_GROUP_CHARS }, depth: COMMIT_DEPTH },
    );
  }

  /** Builds every lane's ledger from the tables; returns how many leased reports went back to pending. */
  private loadLedger(recover: boolean): number {
    const leases = this.ledgerReader.leases();
    let recovered = 0;
    if (recover && leases.length > 0) {
      recovered = leases.reduce((n, [a, b]) => n + b - a + 1, 0);
      this.statements.clearLeases.run();
    }
    for (const ledger of this.ledgerReader.lanes(leases, recover)) this.lanes.set(ledger.name, ledger);
    return recovered;
  }

  /** Stores reports and rejected items durably; resolves only after the transaction holding them has committed. */
  write(request: WriteRequest): Promise<WriteOutcome> {
    return this.committer.submit(request);
  }

  private committed(result: CommitResult): WriteOutcome[] {
    const touched = new Map<string, AddedRows>();
    for (const a of result.appended) {
      const ledger = this.lanes.get(a.lane) ?? this.ledger(a.lane);
      if (ledger) ledger.top = Math.max(ledger.top, a.lastId);
      touched.set(a.lane, { rows: a.rows, bytes: a.bytes });
    }
    if (touched.size > 0) for (const listener of this.listeners) listener(touched);
    if (result.evicted > 0) {
      this.quarantineEvictions += result.evicted;
      this.onQuarantineEvicted?.(result.evicted);
    }
    return result.outcomes;
  }

  /**
   * Rows another connection appended (the admin API's replays, on their thread): the lanes' ledgers read their tops
   * from the file again and the listeners (the sender) hear of them now rather than at their next look.
   */
  appendedElsewhere(added: ReadonlyMap<string, AddedRows>): void {
    for (const lane of added.keys()) this.ledger(lane);
    if (added.size > 0) for (const listener of this.listeners) listener(added);
  }

  /** Called after each commit with the pending rows it added, per lane. */
  onCommitted(listener: (added: ReadonlyMap<string, AddedRows>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The lane's ledger, with its top read again: another process (a quarantine replay) may have appended. */
  private ledger(lane: string): LaneLedger | undefined {
    let ledger = this.lanes.get(lane);
    if (!ledger) {
      const row = (this.statements.lanes.all() as { no: number; name: string; next: number }[]).find((l) => l.name === lane);
      if (!row) return undefined;
      ledger = new LaneLedger(lane, row.no, new RangeSet(), new RangeSet(), laneBase(row.no) + 1, laneBase(row.no));
      this.lanes.set(lane, ledger);
    }
    const next = this.statements.laneNext.get(ledger.no) as number;
    ledger.top = Math.max(ledger.top, laneBase(ledger.no) + next - 1);
    return ledger;
  }

  /** One page of quarantined items, oldest first, after `afterId` (and `offset` items more). */
  quarantined(afterId: number, limit: number, offset = 0): QuarantinedItem[] {
    return this.queries().quarantined(afterId, limit, offset);
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
    this.appender ??= new Appender(this.db, this.appenderOptions, this.now);
    const appender = this.appender;
    const result = this.db.transaction(() => {
      for (const f of stillFailing) {
        const row = quarantineRow.get(f.quarantineId) as { source: string; route: string; item: string } | undefined;
        if (row === undefined) continue;
        if (quarantineProblems.run(f.problems, quarantineHash({ ...row, problems: f.problems }), f.quarantineId).changes === 0) {
          quarantineProblemsUnfolded.run(f.problems, f.quarantineId);
        }
      }
      for (const m of moved) quarantineDelete.run(m.quarantineId);
      for (const id of dropped) quarantineDelete.run(id);
      return appender.commit([{ reports: moved.map((m) => m.report), rejected: [] }]);
    }).immediate();
    return this.committed(result)[0] as WriteOutcome;
  }

  /** How much is waiting in one lane, looking at no more than `limit` rows. */
  pending(lane: string, limit: number): PendingSummary {
    const ledger = this.ledger(lane);
    const out: PendingSummary = { count: 0, bytes: 0, oldestCreatedAt: null };
    if (!ledger) return out;
    for (const [a, b] of ledger.pendingRanges()) {
      if (out.count >= limit) break;
      const head = this.statements.heads.get(a, b, limit - out.count) as { n: number; b: number; t: number | null };
      out.count += head.n;
      out.bytes += head.b;
      if (head.t !== null && (out.oldestCreatedAt === null || head.t < out.oldestCreatedAt)) out.oldestCreatedAt = head.t;
    }
    return out;
  }

  /**
   * When the oldest report of a lane not yet answered by the PCM (pending or in flight) was stored; null when there
   * is none. A lane appends in order, so its lowest such id is its oldest: one row read, from the ledger's ranges.
   */
  oldestUndelivered(lane: string): number | null {
    // Status is read after a stop too (the bench does): a closed spool has nothing this process can still send.
    if (!this.db.open) return null;
    const ledger = this.ledger(lane);
    if (!ledger) return null;
    const ids = [ledger.leased.first, ledger.gaps.first, ledger.top >= ledger.cursor ? ledger.cursor : null].filter((id): id is number => id !== null);
    if (ids.length === 0) return null;
    const id = Math.min(...ids);
    return (this.statements.heads.get(id, id, 1) as { t: number | null }).t;
  }

  /** Lanes with pending rows (e.g. spooled for an organisation no longer configured). */
  pendingLanes(): string[] {
    for (const { name } of this.statements.lanes.all() as { name: string }[]) this.ledger(name);
    return [...this.lanes.values()].filter((l) => l.pending > 0).map((l) => l.name);
  }

  /**
   * Leases the oldest pending rows of one lane, up to `maxItems` rows and `maxBytes` of body (always at least one
   * row). Oldest is arrival order, with one exception: late reports (the `late` table) whose timestamp is older than
   * the lane's oldest waiting report go first, oldest timestamp first. Rows past the age limit on the way are taken
   * too, but as dead letters (`too-old`): the PCM would refuse them. Reads bounded pages; never the whole backlog.
   */
  lease(lane: string, maxItems: number, maxBytes: number): LeasedBatch | null {
    // A writer thread that stopped cannot record leases or answers: sending now would only make duplicates.
    if (this.writer?.failed) return null;
    const ledger = this.ledger(lane);
    if (!ledger) return null;
    const now = this.now();
    const oldest = this.maxAgeMs === undefined ? Number.NEGATIVE_INFINITY : now - this.maxAgeMs;
    const rows: LeasedRow[] = [];
    const tooOld: LeasedRow[] = [];
    const seen = new Set<number>();
    let bytes = 2; // the brackets of the array
    /** Takes a row into the batch, or says it does not fit (then the batch is complete). */
    const add = (id: number, body: string, size: number, at: number): boolean => {
      seen.add(id);
      // Read from the text, not parsed (nor by json_valid + json_extract in the lease query, for every leased row).
      const row = { id, body, at, endpoint: endpointInText(body) };
      if (at < oldest) {
        tooOld.push(row);
        return true;
      }
      const added = size + (rows.length > 0 ? 1 : 0);
      if (rows.length > 0 && bytes + added > maxBytes) return false;
      rows.push(row);
      bytes += added;
      return true;
    };
    const full = (): boolean => rows.length >= maxItems || tooOld.length >= maxItems;
    let complete = false;
    for (const [id, body, size, at] of this.lateFirst(ledger, maxItems)) {
      if (full()) break;
      if (!add(id, body, size, at)) {
        complete = true;
        break;
      }
    }
    for (let page = 1; ; page++) {
      if (!complete && !full()) {
        for (const [a, b] of ledger.pendingRanges()) {
          for (const [id, body, size, at] of this.statements.rows.iterate(a, b, maxItems - rows.length + seen.size) as Iterable<RowRead>) {
            if (seen.has(id)) continue;
            if (full() || !add(id, body, size, at)) {
              complete = true;
              break;
            }
          }
          if (complete || full()) break;
        }
      }
      // A page of nothing but too-old rows leases nothing: dead-letter them and read on, a bounded number of pages.
      if (rows.length > 0 || tooOld.length === 0 || page >= MAX_TOO_OLD_PAGES) break;
      this.deadLetterTooOld(ledger, tooOld.splice(0), now);
      seen.clear();
      complete = false;
    }
    if (rows.length === 0) {
      if (tooOld.length > 0) this.deadLetterTooOld(ledger, tooOld, now);
      return null;
    }
    const ids = rows.map((r) => r.id).sort((x, y) => x - y);
    const taken = runsOf([...ids, ...tooOld.map((r) => r.id)].sort((x, y) => x - y));
    const cursor = ledger.cursor;
    const recorded = this.ledgerWrite((ops) => {
      for (const [a, b] of ledger.take(taken)) ops.push(['resend', a, b]);
      if (ledger.cursor !== cursor) ops.push(['laneCursor', ledger.cursor - laneBase(ledger.no), ledger.no]);
      for (const [a, b] of runsOf(ids)) this.mirrorLeases(ops, ledger.leased.add(a, b), now);
      this.tooOldOps(ledger, tooOld, now, ops);
    });
    return { lane, rows, bytes, recorded };
  }

  /** Pending late rows of the lane whose timestamp is older than its oldest waiting report's, oldest first. */
  private lateFirst(ledger: LaneLedger, maxItems: number): RowRead[] {
    const head = ledger.pendingRanges().next();
    if (head.done) return [];
    const headAt = this.statements.atOf.get(head.value[0]) as number | undefined;
    if (headAt === undefined) return [];
    const base = laneBase(ledger.no);
    // Leased ones are still listed (they leave when answered): stepped through lazily, only pending ones kept.
    const out: RowRead[] = [];
    for (const row of this.statements.lateRows.iterate(base, base + LANE_SPAN - 1, headAt) as Iterable<RowRead>) {
      if (!ledger.isPending(row[0])) continue;
      out.push(row);
      if (out.length >= maxItems) break;
    }
    return out;
  }

  /** Takes rows past the age limit out of pending as answered dead letters, counted on their day. */
  private deadLetterTooOld(ledger: LaneLedger, rows: readonly LeasedRow[], now: number): void {
    if (rows.length === 0) return;
    const cursor = ledger.cursor;
    void this.ledgerWrite((ops) => {
      for (const [a, b] of ledger.take(runsOf(rows.map((r) => r.id).sort((x, y) => x - y)))) ops.push(['resend', a, b]);
      if (ledger.cursor !== cursor) ops.push(['laneCursor', ledger.cursor - laneBase(ledger.no), ledger.no]);
      this.tooOldOps(ledger, rows, now, ops);
    });
  }

  private tooOldOps(ledger: LaneLedger, rows: readonly LeasedRow[], now: number, ops: LedgerOp[]): void {
    if (rows.length === 0) return;
    const limit = this.maxAgeMs ?? 0;
    const perDay = new Map<number, number>();
    const perEndpoint = new AnswerTally();
    for (const row of rows) {
      ops.push(['discard', row.id, now, tooOldMessage(limit, row.at), 'too-old']);
      const day = brtDay(row.at);
      perDay.set(day, (perDay.get(day) ?? 0) + 1);
      perEndpoint.add(day, row.endpoint, 2);
    }
    for (const [a, b] of runsOf(rows.map((r) => r.id).sort((x, y) => x - y))) {
      ops.push(['delivery', a, b, a, now, null]);
      ops.push(['answeredLate', a, b]);
    }
    for (const [day, n] of perDay) ops.push(['days', day, ledger.no, 0, 0, 0, n]);
    for (const e of perEndpoint.entries()) ops.push(['endpointDays', ...e]);
    // Told once the change is made (queued for the writer thread, or applied), never from inside it.
    const told = { lane: ledger.name, bodies: rows.map((r) => r.body), message: tooOldMessage(limit, (rows[0] as LeasedRow).at) };
    queueMicrotask(() => {
      try {
        this.onTooOld?.(told.lane, told.bodies, told.message);
      } catch {
        // A listener's fault is not the spool's: the dead letters are recorded either way.
      }
    });
  }

  private mirrorLeases(ops: LedgerOp[], diff: RangeDiff, now: number): void {
    for (const [a] of diff.removed) ops.push(['deleteLease', a]);
    for (const [a, b] of diff.added) ops.push(['insertLease', a, b, now]);
  }

  private ledgerOf(id: number): LaneLedger | undefined {
    const no = Math.floor(id / LANE_SPAN);
    for (const l of this.lanes.values()) if (l.no === no) return l;
    return undefined;
  }

  /** Leased ids among `ids`, grouped by lane, as runs. */
  private leasedRunsOf(ids: readonly number[]): Map<LaneLedger, Range[]> {
    const byLane = new Map<LaneLedger, number[]>();
    for (const id of ids) {
      const ledger = this.ledgerOf(id);
      if (!ledger || !ledger.leased.has(id)) continue;
      const list = byLane.get(ledger);
      if (list) list.push(id);
      else byLane.set(ledger, [id]);
    }
    return new Map([...byLane].map(([l, list]) => [l, runsOf(list.sort((x, y) => x - y))]));
  }

  /** Records the PCM's answers: one delivery row per run of consecutive reports, and the discarded ones apart. */
  complete(results: readonly RowResult[]): void {
    const byId = new Map(results.map((r) => [r.id, r]));
    const now = this.now();
    void this.ledgerWrite((ops) => {
      for (const [ledger, runs] of this.leasedRunsOf([...byId.keys()])) {
        // Per day: [delivered, on time, discarded, too old]; per day and endpoint the same, but on time.
        const perDay = new Map<number, [number, number, number, number]>();
        const perEndpoint = new AnswerTally();
        for (const [a, b] of runs) {
          const reportIds: (string | null)[] = [];
          for (let id = a; id <= b; id++) {
            const r = byId.get(id) as RowResult;
            reportIds.push(r.reportId);
            if (r.state === 'discarded') ops.push(['discard', id, now, r.message, r.reason ?? 'pcm']);
            if (r.at === undefined) continue;
            const day = brtDay(r.at);
            let counts = perDay.get(day);
            if (!counts) perDay.set(day, (counts = [0, 0, 0, 0]));
            const kind = r.state === 'accepted' ? 0 : r.reason === 'too-old' ? 2 : 1;
            if (kind === 2) counts[3]++;
            else if (kind === 1) counts[2]++;
            else {
              counts[0]++;
              if (now <= dayDeadline(day)) counts[1]++;
            }
            perEndpoint.add(day, r.endpoint ?? this.endpointOf(id), kind);
          }
          ops.push(['delivery', a, b, a, now, reportIds.some((x) => x !== null) ? JSON.stringify(reportIds) : null]);
          ops.push(['answeredLate', a, b]);
          this.mirrorLeases(ops, ledger.leased.remove(a, b), now);
        }
        for (const [day, [delivered, onTime, discarded, tooOld]] of perDay) ops.push(['days', day, ledger.no, delivered, onTime, discarded, tooOld]);
        for (const e of perEndpoint.entries()) ops.push(['endpointDays', ...e]);
      }
    });
  }

  /** The endpoint a leased row's answer is counted under, read from the log (for callers that did not keep it). */
  private endpointOf(id: number): string {
    return endpointKey(this.statements.endpointOf.get(id));
  }

  /** Returns leased rows to pending (after a failed attempt, or on shutdown). */
  release(ids: readonly number[]): void {
    const now = this.now();
    void this.ledgerWrite((ops) => {
      for (const [ledger, runs] of this.leasedRunsOf(ids)) {
        for (const [a, b] of runs) {
          this.mirrorLeases(ops, ledger.leased.remove(a, b), now);
          ledger.giveBack(a, b);
        }
      }
    });
  }

  /**
   * A ledger change: memory first, then its table writes. With the writer thread they go to it, in order, without
   * waiting (a busy wait for its lock would stall this event loop for a commit). In-process they are applied now, and
   * if that fails the ledger is read again from the tables, so memory never holds a lease or answer the file does not.
   */
  private ledgerWrite(change: (ops: LedgerOp[]) => void): Promise<void> {
    const ops: LedgerOp[] = [];
    change(ops);
    if (this.writer) return this.writer.ledger(ops);
    try {
      this.ledgerStore.apply(ops);
      return Promise.resolve();
    } catch (err) {
      this.lanes.clear();
      this.loadLedger(false);
      throw err;
    }
  }

  /** Read-only questions for the admin API (queries.ts), on this spool's connection. */
  queries(): SpoolQueries {
    this.readQueries ??= new SpoolQueries(this.db);
    return this.readQueries;
  }

  /** The per-day counters (days.ts) from `fromDay` on, per lane, oldest day first. */
  days(fromDay: number): DayCounts[] {
    return this.statements.days.all(fromDay) as DayCounts[];
  }

  /** Dead letters (DISCARDED, refused, too old), newest first; `reason` and `since` (epoch ms) narrow the list. */
  deadLetters(filter: DeadLetterQuery & { limit: number; offset?: number }): DeadLetter[] {
    return this.queries().deadLetters(filter);
  }

  /** How many dead letters the filter selects. */
  countDeadLetters(filter: DeadLetterQuery): number {
    return this.queries().countDeadLetters(filter);
  }

  /**
   * Stores dead letters again as new reports (after a fix, validated again by the caller) and marks them replayed,
   * in one transaction. The new copy gets a key of its own: the dead letter's key would make an identical report a
   * duplicate of the discarded one. Safe next to a running sidecar: its lanes pick the rows up from the file.
   */
  replayDeadLetters(items: readonly { deadLetterId: number; report: NewReport }[]): WriteOutcome {
    this.appender ??= new Appender(this.db, this.appenderOptions, this.now);
    const appender = this.appender;
    const now = this.now();
    const result = this.db.transaction(() => {
      for (const item of items) this.statements.markReplayed.run(now, item.deadLetterId);
      const committed = appender.commit([{ reports: items.map((i) => ({ ...i.report, dedupKey: `${i.report.dedupKey}|replay:${i.deadLetterId}` })), rejected: [] }]);
      // The copy is the same API call: its day counts it once, as the report it now is, not as a dead letter too.
      (committed.outcomes[0] ?? []).forEach((outcome, i) => {
        if (outcome !== 'stored') return;
        const id = (items[i] as (typeof items)[number]).deadLetterId;
        const letter = this.statements.deadLetterDay.get(id) as { reason: DeadLetterReason; at: number; endpoint: unknown } | undefined;
        if (!letter) return;
        const [discarded, tooOld] = letter.reason === 'too-old' ? [0, 1] : [1, 0];
        this.statements.unDeadLetter.run(discarded, tooOld, brtDay(letter.at), laneNoOf(id));
        this.statements.unEndpointDay.run(brtDay(letter.at), endpointKey(letter.endpoint), discarded, tooOld);
      });
      return committed;
    }).immediate();
    return this.committed(result)[0] as WriteOutcome;
  }

  /**
   * Where the pending reports are, as id ranges in id order, from the ledger in memory (one small read per lane):
   * what the admin API's questions start from, rather than reading every delivery piece to find them.
   */
  pendingRanges(): Range[] {
    if (!this.db.open) return [];
    for (const { name } of this.statements.lanes.all() as { name: string }[]) this.ledger(name);
    return [...this.lanes.values()].sort((a, b) => a.no - b.no).flatMap((l) => [...l.pendingRanges()]);
  }

  /** Reports not yet delivered (pending and in flight), from the ledger alone: cheap enough for every request. */
  undelivered(): number {
    let n = 0;
    for (const l of this.lanes.values()) n += l.pending + l.leased.size;
    return n;
  }

  /** Reports not yet delivered and items in quarantine: counted from the ledger, cheap whatever the spool size. */
  backlog(): { pending: number; inflight: number; quarantined: number } {
    let pending = 0;
    let inflight = 0;
    for (const l of this.lanes.values()) {
      pending += l.pending;
      inflight += l.leased.size;
    }
    return { pending, inflight, quarantined: this.queries().quarantineCount() };
  }

  /** Every lane in the file with its reports pending and in flight, from the ledger (one small read per lane). */
  laneBacklogs(): { lane: string; pending: number; inflight: number }[] {
    if (!this.db.open) return [];
    return (this.statements.lanes.all() as { name: string }[]).flatMap(({ name }) => {
      const ledger = this.ledger(name);
      return ledger ? [{ lane: name, pending: ledger.pending, inflight: ledger.leased.size }] : [];
    });
  }

  /** Dead letters not replayed, per lane and reason (one pass over the dead letters, which retention keeps few). */
  deadLetterCounts(): { lane: string; reason: DeadLetterReason; count: number }[] {
    if (!this.db.open) return [];
    return this.statements.deadLetterCounts.all() as { lane: string; reason: DeadLetterReason; count: number }[];
  }

  /** Bytes of the database file and of its WAL now; 0 for a file that is not there. */
  fileSizes(): { file: number; wal: number } {
    const size = (path: string): number => statSync(path, { throwIfNoEntry: false })?.size ?? 0;
    return this.path === ':memory:' ? { file: 0, wal: 0 } : { file: size(this.path), wal: size(`${this.path}-wal`) };
  }

  /** Quarantined items deleted by the rows or bytes cap since the spool was opened. */
  get quarantineEvicted(): number {
    return this.quarantineEvictions;
  }

  /** Resolves once every write and ledger change made so far is in the file (with the writer thread, they trail). */
  async flush(): Promise<void> {
    await this.committer.drain();
    if (this.writer) await this.writer.sync();
  }

  /**
   * Every state, delivered ones included: pending and in flight from this process's ledger, answered ones as recorded
   * in the file (with the writer thread, the last answers may trail by a commit; `flush()` first for an exact count).
   */
  counts(): Record<ReportState, number> & { quarantined: number } {
    for (const { name } of this.statements.lanes.all() as { name: string }[]) this.ledger(name);
    const { pending, inflight, quarantined } = this.backlog();
    const delivered = this.statements.delivered.get() as number;
    const discarded = this.statements.discardedCount.get() as number;
    return { pending, inflight, accepted: delivered - discarded, discarded, quarantined };
  }

  /**
   * Deletes up to `limit` delivered reports (accepted or discarded) answered before `before`, oldest first.
   * Pending and in-flight reports are never pruned. Returns how many went.
   */
  pruneDelivered(before: number, limit: number): number {
    return this.pruner.prune(before, limit);
  }

  /** Deletes up to `limit` keyblocks older than the window needs (their keys can no longer match). */
  pruneKeys(limit: number): number {
    let keys = 0;
    let oldestNeeded = 0;
    for (const [seq, n] of this.statements.keyblockSizes.iterate() as Iterable<[number, number]>) {
      oldestNeeded = seq;
      keys += n;
      if (keys >= this.appenderOptions.dedupWindow) break;
    }
    return this.statements.keyblocksPrune.run(oldestNeeded, limit).changes;
  }

  /** Deletes up to `limit` quarantined items received before `before`, oldest first. Returns how many went. */
  pruneQuarantine(before: number, limit: number): number {
    return this.statements.quarantinePrune.run(before, limit).changes;
  }

  /** Waits for writes already submitted, then closes the database (checkpointing the WAL). */
  async close(): Promise<void> {
    await this.committer.drain();
    if (this.writer) await this.writer.close();
    this.db.close();
  }
}
