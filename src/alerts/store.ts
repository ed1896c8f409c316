import Database from 'better-sqlite3';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Burst } from './bursts.js';
import { isAlertCode } from './events.js';

/**
 * The notifications and the open bursts, in a SQLite file of their own (`<spool path>.alerts.db` by default): the
 * spool's schema is not touched, and a lost alerts file loses alerts, never reports. WAL with synchronous=NORMAL:
 * a killed process loses nothing committed (a power cut may lose the last commits, acceptable for alerts, and no
 * fsync on the event loop). What is stored: the payload (event details, no secrets), the state, attempts, times and
 * the last error as the sidecar worded it — never a token, a secret or a header value.
 */

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE bursts (
  key TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  code TEXT NOT NULL,
  opened_at INTEGER NOT NULL,
  closes_at INTEGER NOT NULL,
  first_at INTEGER NOT NULL,
  last_at INTEGER NOT NULL,
  count INTEGER NOT NULL,
  events INTEGER NOT NULL,
  sample TEXT NOT NULL,
  fields TEXT NOT NULL
);
CREATE TABLE notifications (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  subscription TEXT NOT NULL,
  transaction_id TEXT NOT NULL UNIQUE,
  event TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  last_attempt_at INTEGER,
  finished_at INTEGER,
  last_status INTEGER,
  last_error TEXT
);
CREATE INDEX notifications_pending ON notifications (subscription, id) WHERE state = 'pending';
CREATE INDEX notifications_state ON notifications (state, id);
`;

export type NotificationState = 'pending' | 'delivered' | 'failed';
export const NOTIFICATION_STATES: readonly NotificationState[] = ['pending', 'delivered', 'failed'];

export interface NewNotification {
  subscription: string;
  transactionId: string;
  event: string;
  payload: string;
  createdAt: number;
}

export interface StoredNotification extends NewNotification {
  id: number;
  state: NotificationState;
  attempts: number;
  nextAttemptAt: number;
  lastAttemptAt: number | null;
  finishedAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
}

export interface ListQuery {
  state?: NotificationState | undefined;
  event?: string | undefined;
  offset: number;
  limit: number;
}

const COLUMNS = `id, subscription, transaction_id AS transactionId, event, payload, state, attempts, created_at AS createdAt,
  next_attempt_at AS nextAttemptAt, last_attempt_at AS lastAttemptAt, finished_at AS finishedAt, last_status AS lastStatus,
  last_error AS lastError`;

/** Errors kept at most this long: the receiver's words are not stored, ours are short. */
const MAX_ERROR_CHARS = 500;

function isUnreadable(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT');
}

interface BurstRow {
  key: string;
  seq: number;
  code: string;
  openedAt: number;
  closesAt: number;
  firstAt: number;
  lastAt: number;
  count: number;
  events: number;
  sample: string;
  fields: string;
}

export class AlertStore {
  /** Where an unreadable file was moved at open, if one was. */
  readonly movedAside: string | null;
  private readonly db: Database.Database;
  private readonly statements;

  private constructor(db: Database.Database, movedAside: string | null) {
    this.db = db;
    this.movedAside = movedAside;
    this.statements = {
      bursts: db.prepare(
        'SELECT key, seq, code, opened_at AS openedAt, closes_at AS closesAt, first_at AS firstAt, last_at AS lastAt, count, events, sample, fields FROM bursts ORDER BY seq',
      ),
      upsertBurst: db.prepare(
        `INSERT INTO bursts (key, seq, code, opened_at, closes_at, first_at, last_at, count, events, sample, fields)
         VALUES (@key, @seq, @code, @openedAt, @closesAt, @firstAt, @lastAt, @count, @events, @sample, @fields)
         ON CONFLICT (key) DO UPDATE SET seq = excluded.seq, code = excluded.code, opened_at = excluded.opened_at,
           closes_at = excluded.closes_at, first_at = excluded.first_at, last_at = excluded.last_at, count = excluded.count,
           events = excluded.events, sample = excluded.sample, fields = excluded.fields`,
      ),
      deleteBurst: db.prepare('DELETE FROM bursts WHERE key = ?'),
      insert: db.prepare(
        `INSERT INTO notifications (subscription, transaction_id, event, payload, state, created_at, next_attempt_at)
         VALUES (@subscription, @transactionId, @event, @payload, 'pending', @createdAt, @createdAt)`,
      ),
      head: db.prepare(`SELECT ${COLUMNS} FROM notifications WHERE state = 'pending' AND subscription = ? ORDER BY id LIMIT 1`),
      finish: db.prepare(
        'UPDATE notifications SET state = @state, attempts = @attempts, last_attempt_at = @at, finished_at = @at, last_status = @status, last_error = @error WHERE id = @id',
      ),
      retry: db.prepare(
        'UPDATE notifications SET attempts = @attempts, last_attempt_at = @at, next_attempt_at = @nextAt, last_status = @status, last_error = @error WHERE id = @id',
      ),
      orphans: db.prepare("SELECT subscription, event, count(*) AS n FROM notifications WHERE state = 'pending' GROUP BY subscription, event"),
      failAll: db.prepare(
        "UPDATE notifications SET state = 'failed', finished_at = @at, last_error = @error WHERE state = 'pending' AND subscription = @subscription",
      ),
      pending: db.prepare("SELECT subscription, count(*) AS n FROM notifications WHERE state = 'pending' GROUP BY subscription"),
      prune: db.prepare(
        "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE state != 'pending' AND finished_at < ? ORDER BY id LIMIT ?)",
      ),
    };
  }

  /** Opens or creates the file; one SQLite cannot read is moved to `<path>.corrupt-<time>` and a new one started. */
  static open(path: string): AlertStore {
    mkdirSync(dirname(path), { recursive: true });
    try {
      return new AlertStore(openDatabase(path), null);
    } catch (err) {
      if (!isUnreadable(err)) throw err;
      const target = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      for (const suffix of ['', '-wal', '-shm']) if (existsSync(path + suffix)) renameSync(path + suffix, target + suffix);
      return new AlertStore(openDatabase(path), target);
    }
  }

  /** Bursts still open when the last process stopped, oldest first. */
  loadBursts(): Burst[] {
    return (this.statements.bursts.all() as BurstRow[]).flatMap((row) => {
      if (!isAlertCode(row.code)) return [];
      return [{ ...row, code: row.code, sample: JSON.parse(row.sample) as string[], fields: JSON.parse(row.fields) as Burst['fields'] }];
    });
  }

  /**
   * One transaction: open bursts as they are now, and closed ones replaced by their notifications. A burst is
   * either in the file or its notifications are, never both and never neither.
   */
  saveBursts(changed: readonly Burst[], closed: readonly { burst: Burst; notifications: readonly NewNotification[] }[]): void {
    if (changed.length === 0 && closed.length === 0) return;
    this.db.transaction(() => {
      for (const b of changed) {
        this.statements.upsertBurst.run({ ...b, sample: JSON.stringify(b.sample), fields: JSON.stringify(b.fields) });
      }
      for (const { burst, notifications } of closed) {
        this.statements.deleteBurst.run(burst.key);
        for (const n of notifications) this.statements.insert.run(n);
      }
    })();
  }

  /** The oldest pending notification of a subscription: the one its receiver must take before the others. */
  head(subscription: string): StoredNotification | null {
    return (this.statements.head.get(subscription) as StoredNotification | undefined) ?? null;
  }

  delivered(id: number, attempts: number, at: number, status: number): void {
    this.statements.finish.run({ id, state: 'delivered', attempts, at, status, error: null });
  }

  failed(id: number, attempts: number, at: number, status: number | null, error: string): void {
    this.statements.finish.run({ id, state: 'failed', attempts, at, status, error: error.slice(0, MAX_ERROR_CHARS) });
  }

  retry(id: number, attempts: number, at: number, nextAt: number, status: number | null, error: string): void {
    this.statements.retry.run({ id, attempts, at, nextAt, status, error: error.slice(0, MAX_ERROR_CHARS) });
  }

  /** Pending notifications of subscriptions no longer configured: failed, so they are neither sent elsewhere nor kept pending. */
  failUnknown(known: ReadonlySet<string>, at: number): { subscription: string; count: number; byEvent: Map<string, number> }[] {
    const orphans = new Map<string, Map<string, number>>();
    for (const { subscription, event, n } of this.statements.orphans.all() as { subscription: string; event: string; n: number }[]) {
      if (known.has(subscription)) continue;
      const byEvent = orphans.get(subscription) ?? new Map<string, number>();
      byEvent.set(event, n);
      orphans.set(subscription, byEvent);
    }
    const out: { subscription: string; count: number; byEvent: Map<string, number> }[] = [];
    for (const [subscription, byEvent] of orphans) {
      const { changes } = this.statements.failAll.run({ subscription, at, error: 'the subscription is no longer configured' });
      out.push({ subscription, count: changes, byEvent });
    }
    return out;
  }


  pendingBySubscription(): Map<string, number> {
    return new Map((this.statements.pending.all() as { subscription: string; n: number }[]).map((r) => [r.subscription, r.n]));
  }

  /** One page, oldest first, and how many match in all. */
  list(query: ListQuery): { total: number; rows: StoredNotification[] } {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.state) {
      where.push('state = ?');
      params.push(query.state);
    }
    if (query.event) {
      where.push('event = ?');
      params.push(query.event);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.db.prepare(`SELECT count(*) AS n FROM notifications ${clause}`).get(...params) as { n: number }).n;
    const rows = this.db.prepare(`SELECT ${COLUMNS} FROM notifications ${clause} ORDER BY id LIMIT ? OFFSET ?`).all(...params, query.limit, query.offset) as StoredNotification[];
    return { total, rows };
  }

  /** Deletes at most `limit` delivered or failed notifications that ended before `before`. */
  prune(before: number, limit: number): number {
    return this.statements.prune.run(before, limit).changes;
  }

  get open(): boolean {
    return this.db.open;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function openDatabase(path: string): Database.Database {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version === 0) {
      db.transaction(() => {
        db.exec(SCHEMA);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
    } else if (version > SCHEMA_VERSION) {
      throw new Error(`${path} has alerts schema ${version}, newer than this sidecar's ${SCHEMA_VERSION}`);
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
