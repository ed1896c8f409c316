import type Database from 'better-sqlite3';
import { hash } from 'node:crypto';
import { SpoolFullError } from '../errors.js';
import { brtDay } from './days.js';
import { DedupWindow } from './dedup-window.js';
import { endpointOf, EndpointTally } from './endpoint-days.js';
import { DeliveredPruner } from './prune.js';
import { laneBase, packKeys } from './schema.js';
import { laneOf, type CommitResult, type LaneAppend, type RejectedItem, type WriteOutcome, type WriteRequest } from './types.js';

/**
 * The spool's write path: one transaction per group of requests appends reports to their lanes' logs and refused
 * items to the quarantine. Synchronous; runs on the writer thread in the sidecar (writer-thread.ts) and in-process
 * for commands and tests. Duplicates are caught by the in-memory window, confirmed against the stored key.
 */

export interface AppenderOptions {
  /** Keys the de-duplication window remembers (0: off). */
  dedupWindow: number;
  /** Largest database file; ingest stops before it, keeping room for the sender's writes (null: no cap). */
  maxBytes: number | null;
  quarantineMaxRows: number;
  quarantineMaxBytes: number;
  /** A report stored this long after its own timestamp is late (the `late` table): it may be sent before older arrivals. */
  lateArrivalMs: number;
}

/** Delivered reports deleted at once when the spool is full, before the write is tried again. */
const FULL_PRUNE_ROWS = 50_000;
/** Room kept under PCM_SPOOL_MAX_BYTES for the sender's own writes (leases, results): ingest stops before it. */
const SENDER_RESERVE_FRACTION = 0.1;
const SENDER_RESERVE_MIN_BYTES = 256 * 1024;

/** A report's de-duplication key as stored: the first 16 bytes of its SHA-256. */
export function dedupHash(dedupKey: string): Buffer {
  return hash('sha256', dedupKey, 'buffer').subarray(0, 16);
}

/**
 * What makes two refused items the same for folding: route, request (method and URL with its query: `?orgId=` and
 * `?role=` change what the item means on replay), item and problems. Not the caller's address.
 */
export function quarantineHash(item: Pick<RejectedItem, 'source' | 'route' | 'item' | 'problems'>): Buffer {
  const request = item.source.slice(item.source.indexOf(' ') + 1);
  return hash('sha256', `${item.route}\0${request}\0${item.item}\0${item.problems}`, 'buffer').subarray(0, 16);
}

function isFull(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_WRITE';
}

interface LaneCursor {
  no: number;
  next: number;
  append: LaneAppend | null;
  /** Reports stored in this commit per day (days.ts), added to the `days` table with the commit. */
  days: Map<number, number>;
}

export class Appender {
  private readonly statements;
  private readonly window: DedupWindow;
  private readonly pruner: DeliveredPruner;
  private readonly ingestPageLimit: number | null = null;
  /** Counted as items are added: a cheap trigger only; the cap is applied on a fresh count. */
  private quarantineUsage: { rows: number; bytes: number };
  private evictedInCommit = 0;
  private windowBuilt = false;
  /** The newest keyblock already in the window. */
  private lastBlock = 0;
  /** Ids and keys appended in the transaction under way, written as one keyblock row. */
  private readonly blockIds: number[] = [];
  private readonly blockKeys: Buffer[] = [];
  /** Reused by every lookup: no allocation per report. */
  private readonly candidates: number[] = [];

  constructor(
    private readonly db: Database.Database,
    private readonly options: AppenderOptions,
    /** Arrival time of what is stored (the writer thread's is the wall clock; an in-process spool's, its own). */
    private readonly now: () => number = Date.now,
  ) {
    this.statements = {
      lane: db.prepare('SELECT no, next FROM lanes WHERE name = ?'),
      newLane: db.prepare('INSERT INTO lanes (name, stream, org_id) VALUES (?, ?, ?) RETURNING no, next'),
      laneNext: db.prepare('UPDATE lanes SET next = ? WHERE no = ?'),
      append: db.prepare('INSERT INTO log (id, created_at, bytes, k, body, ts) VALUES (?, ?, ?, ?, ?, ?)'),
      late: db.prepare('INSERT INTO late (id, ts) VALUES (?, ?)'),
      received: db.prepare('INSERT INTO days (day, lane, received) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET received = received + excluded.received'),
      endpointReceived: db.prepare(
        'INSERT INTO endpoint_days (day, endpoint, received) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET received = received + excluded.received',
      ),
      keyblock: db.prepare('INSERT INTO keyblocks (n, ids, ks) VALUES (?, ?, ?)'),
      note: db.prepare('INSERT INTO notes (id, repairs, findings) VALUES (?, ?, ?)'),
      stored: db.prepare('SELECT l.k AS k, l.body AS body, x.id IS NOT NULL AS discarded FROM log l LEFT JOIN discarded x ON x.id = l.id WHERE l.id = ?'),
      recentBlocks: db.prepare('SELECT ids, ks, seq FROM keyblocks ORDER BY seq DESC').raw(),
      newerBlocks: db.prepare('SELECT ids, ks, seq FROM keyblocks WHERE seq > ? ORDER BY seq').raw(),
      quarantine: db.prepare(
        `INSERT INTO quarantine (received_at, last_seen_at, source, route, item, problems, item_hash) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (item_hash) DO UPDATE SET count = count + 1, last_seen_at = excluded.last_seen_at, source = excluded.source
         RETURNING count, length(CAST(item AS BLOB)) + length(CAST(problems AS BLOB)) AS bytes`,
      ),
      quarantineUsage: db.prepare('SELECT count(*) AS rows, coalesce(sum(length(CAST(item AS BLOB)) + length(CAST(problems AS BLOB))), 0) AS bytes FROM quarantine'),
      quarantineEvict: db.prepare('DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine ORDER BY id LIMIT ?)'),
    };
    this.window = new DedupWindow(options.dedupWindow);
    this.pruner = new DeliveredPruner(db);
    this.quarantineUsage = this.statements.quarantineUsage.get() as { rows: number; bytes: number };
    if (options.maxBytes !== null) {
      const pageSize = db.pragma('page_size', { simple: true }) as number;
      const reserve = Math.max(SENDER_RESERVE_MIN_BYTES, options.maxBytes * SENDER_RESERVE_FRACTION);
      this.ingestPageLimit = Math.max(16, Math.floor((options.maxBytes - reserve) / pageSize));
    }
  }

  /** Fills the window with the most recent keys; done before the first write (or at start, to have it ready). */
  buildWindow(): void {
    this.windowBuilt = true;
    this.window.clear();
    if (this.options.dedupWindow === 0) return;
    // Newest blocks first until the window is full, then added oldest first so generations age as they did.
    const blocks: [Buffer, Buffer, number][] = [];
    let keys = 0;
    for (const block of this.statements.recentBlocks.iterate() as Iterable<[Buffer, Buffer, number]>) {
      blocks.push(block);
      keys += block[0].length / 8;
      if (keys >= this.options.dedupWindow) break;
    }
    this.lastBlock = blocks[0]?.[2] ?? 0;
    for (let b = blocks.length - 1; b >= 0; b--) this.addBlock(blocks[b] as [Buffer, Buffer, number]);
  }

  private addBlock([ids, ks]: [Buffer, Buffer, number]): void {
    for (let i = 0; i < ids.length / 8; i++) this.window.add(ks.readUInt32LE(i * 16), ids.readDoubleLE(i * 8));
  }

  /** Keys another process (a quarantine replay) committed since this one's last commit join the window. */
  private catchUp(): void {
    if (this.options.dedupWindow === 0) return;
    for (const block of this.statements.newerBlocks.all(this.lastBlock) as [Buffer, Buffer, number][]) {
      this.addBlock(block);
      this.lastBlock = block[2];
    }
  }

  /** Commits a group of requests in one transaction; throws SpoolFullError when there is no room even after pruning. */
  commit(requests: readonly WriteRequest[]): CommitResult {
    if (!this.windowBuilt) this.buildWindow();
    const now = this.now();
    const attempt = (): CommitResult => {
      this.evictedInCommit = 0;
      const lanes = new Map<string, LaneCursor>();
      const endpoints = new EndpointTally();
      const outcomes = this.db.transaction(() => {
        this.blockIds.length = 0;
        this.blockKeys.length = 0;
        this.catchUp();
        const result = requests.map((request) => this.apply(request, now, lanes, endpoints));
        if (this.blockIds.length > 0) {
          const p = packKeys(this.blockIds, this.blockKeys);
          this.lastBlock = Number(this.statements.keyblock.run(p.n, p.ids, p.ks).lastInsertRowid);
        }
        for (const cursor of lanes.values()) {
          if (!cursor.append) continue;
          this.statements.laneNext.run(cursor.next, cursor.no);
          for (const [day, n] of cursor.days) this.statements.received.run(day, cursor.no, n);
        }
        for (const [day, endpoint, n] of endpoints.entries()) this.statements.endpointReceived.run(day, endpoint, n);
        return result;
      }).immediate();
      const appended = [...lanes.values()].flatMap((c) => (c.append ? [c.append] : []));
      return { outcomes, appended, evicted: this.evictedInCommit };
    };
    try {
      if (this.overIngestLimit() && this.pruner.prune(Number.POSITIVE_INFINITY, FULL_PRUNE_ROWS) === 0 && this.overIngestLimit()) {
        throw Object.assign(new Error('ingest share of PCM_SPOOL_MAX_BYTES used'), { code: 'SQLITE_FULL' });
      }
      return this.retryWhenFull(attempt);
    } catch (err) {
      if (!isFull(err)) throw err;
      throw new SpoolFullError('the spool is full (disk or PCM_SPOOL_MAX_BYTES) and holds only undelivered reports; nothing from this request was stored', {
        cause: err,
      });
    }
  }

  private retryWhenFull(attempt: () => CommitResult): CommitResult {
    try {
      return attempt();
    } catch (err) {
      this.afterRollback();
      if (!isFull(err)) throw err;
      // Delivered rows only serve de-duplication: under pressure they go first, undelivered ones never.
      if (this.pruner.prune(Number.POSITIVE_INFINITY, FULL_PRUNE_ROWS) === 0) throw err;
      try {
        return attempt();
      } catch (again) {
        this.afterRollback();
        throw again;
      }
    }
  }

  /** A rolled-back transaction kept nothing: the window and the quarantine count are read afresh. */
  private afterRollback(): void {
    this.buildWindow();
    this.evictedInCommit = 0;
    this.quarantineUsage = this.statements.quarantineUsage.get() as { rows: number; bytes: number };
  }

  private apply(request: WriteRequest, now: number, lanes: Map<string, LaneCursor>, endpoints: EndpointTally): WriteOutcome {
    const s = this.statements;
    for (const rejected of request.rejected) {
      const row = s.quarantine.get(now, now, rejected.source, rejected.route, rejected.item, rejected.problems, quarantineHash(rejected)) as {
        count: number;
        bytes: number;
      };
      if (row.count === 1) {
        this.quarantineUsage.rows++;
        this.quarantineUsage.bytes += row.bytes;
      }
    }
    if (request.rejected.length > 0) this.capQuarantine();
    const outcome: WriteOutcome = new Array(request.reports.length);
    for (let i = 0; i < request.reports.length; i++) {
      const report = request.reports[i] as WriteRequest['reports'][number];
      const k = dedupHash(report.dedupKey);
      const fingerprint = k.readUInt32LE(0);
      if (this.isDuplicate(k, fingerprint, report.json)) {
        outcome[i] = 'duplicate';
        continue;
      }
      const laneName = laneOf(report.stream, report.orgId);
      let cursor = lanes.get(laneName);
      if (!cursor) {
        // Read inside the transaction: another process (a quarantine replay) may have appended since.
        const row = (s.lane.get(laneName) ?? s.newLane.get(laneName, report.stream, report.orgId)) as { no: number; next: number };
        cursor = { no: row.no, next: row.next, append: null, days: new Map() };
        lanes.set(laneName, cursor);
      }
      const id = laneBase(cursor.no) + cursor.next++;
      const bytes = Buffer.byteLength(report.json);
      const at = report.at ?? null;
      s.append.run(id, now, bytes, k, report.json, at);
      if (at !== null && now - at > this.options.lateArrivalMs) s.late.run(id, at);
      const day = brtDay(at ?? now);
      cursor.days.set(day, (cursor.days.get(day) ?? 0) + 1);
      endpoints.add(endpointOf(report), day);
      this.blockIds.push(id);
      this.blockKeys.push(k);
      if (report.repairs.length > 0 || report.findings) {
        s.note.run(id, report.repairs.length > 0 ? JSON.stringify(report.repairs) : null, report.findings ?? null);
      }
      this.window.add(fingerprint, id);
      if (cursor.append) {
        cursor.append.rows++;
        cursor.append.bytes += bytes;
        cursor.append.lastId = id;
      } else {
        cursor.append = { lane: laneName, no: cursor.no, rows: 1, bytes, lastId: id };
      }
      outcome[i] = 'stored';
    }
    return outcome;
  }

  /**
   * A key seen before is a duplicate while its report is still in the spool — unless the PCM discarded that report
   * and this one differs (a corrected report is sent again).
   */
  private isDuplicate(k: Buffer, fingerprint: number, json: string): boolean {
    const found = this.window.lookup(fingerprint, this.candidates);
    for (let i = 0; i < found; i++) {
      const stored = this.statements.stored.get(this.candidates[i] as number) as { k: Buffer; body: string; discarded: number } | undefined;
      // Gone (pruned) or another key under the same fingerprint: not this one.
      if (!stored || !stored.k.equals(k)) continue;
      // The same key may have been stored again after a discard: a live copy makes this one a duplicate.
      if (!stored.discarded || stored.body === json) return true;
    }
    return false;
  }

  /** Deletes the oldest quarantined items while the quarantine is over a cap, down to 90 % of both. */
  private capQuarantine(): void {
    const caps = { rows: this.options.quarantineMaxRows, bytes: this.options.quarantineMaxBytes };
    if (this.quarantineUsage.rows <= caps.rows && this.quarantineUsage.bytes <= caps.bytes) return;
    let usage = this.statements.quarantineUsage.get() as { rows: number; bytes: number };
    while (usage.rows > caps.rows * 0.9 || usage.bytes > caps.bytes * 0.9) {
      const share = Math.max(usage.rows - caps.rows * 0.9, usage.rows * (1 - (caps.bytes * 0.9) / Math.max(1, usage.bytes)));
      const deleted = this.statements.quarantineEvict.run(Math.max(1, Math.min(10_000, Math.ceil(share)))).changes;
      if (deleted === 0) break;
      this.evictedInCommit += deleted;
      usage = this.statements.quarantineUsage.get() as { rows: number; bytes: number };
    }
    this.quarantineUsage = usage;
  }

  /** True when the pages in use (free pages excluded) reach ingest's share of maxBytes. */
  private overIngestLimit(): boolean {
    if (this.ingestPageLimit === null) return false;
    const used = (this.db.pragma('page_count', { simple: true }) as number) - (this.db.pragma('freelist_count', { simple: true }) as number);
    return used >= this.ingestPageLimit;
  }
}
