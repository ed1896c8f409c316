import Database from 'better-sqlite3';
import { brtDay } from './days.js';

/**
 * The spool file's layout (schema version 5): an append-only log per lane plus a small ledger.
 *
 * - `log`: one row per report, the exact JSON that goes to the PCM. A report's id is `lane number × 2^40 + its
 *   sequence in the lane`, so each lane is one contiguous rowid range: appends and leases are range operations on
 *   the table's own B-tree, with no secondary index written per report.
 * - `lanes`: the lane's number, name, next sequence (kept, so a sequence is never reused after pruning) and cursor
 *   (the first sequence never leased).
 * - `keyblocks`: the de-duplication keys of each commit in one row (ids and keys as packed arrays), read newest first
 *   at start to rebuild the in-memory window (dedup-window.ts); each log row also holds its key, to confirm a match.
 * - `leases`: id ranges handed to a batch in flight; at the next start they are pending again.
 * - `deliveries`: id ranges the PCM answered for, one row per batch piece, with the reportIds it gave.
 * - `discarded`: the dead letters — reports the PCM refused, with its message, and reports never sent — with their
 *   reason (dead-letter.ts); `notes`: repairs and quality findings, only for reports
 *   that have some; `resends`: ranges leased more than once (their reports may reach the PCM twice).
 * - `quarantine`: items ingest refused (unchanged since version 2).
 * - `days`: per day (BRT, of the report's own timestamp) and lane, reports received, delivered, delivered by the
 *   deadline, discarded and too old (days.ts): the figures the daily SLA is judged on, kept as counters so that
 *   reading them never scans the log. Counted from version 4 on.
 * - `log.ts`: the report's own timestamp (epoch ms), for its age limit and its day; null in rows from version 3.
 * - `late`: reports that arrived long after their timestamp (a log shipper catching up), with it, until answered:
 *   the few a lease may send before older arrivals, so they reach the PCM before its age limit.
 * - `endpoint_days`: per day (BRT) and endpoint, reports received, delivered, discarded and too old (endpoint-days.ts),
 *   for the admin API's per-endpoint figures; `counted_since` holds the first day they cover (a file migrated from
 *   version 4 has none before it).
 * - `reports`: a read-only view with one row per report and its state, for people and tests, not for the hot path.
 */

export const SCHEMA_VERSION = 5;
/** Bits of a report id that hold its sequence within the lane: 2^40 reports per lane, 2^12 lanes. */
export const LANE_BITS = 40;
export const LANE_SPAN = 2 ** LANE_BITS;

export function laneBase(no: number): number {
  return no * LANE_SPAN;
}

export function laneNoOf(id: number): number {
  return Math.floor(id / LANE_SPAN);
}

const QUARANTINE_V2 = `
CREATE TABLE IF NOT EXISTS quarantine (
  id           INTEGER PRIMARY KEY,
  received_at  INTEGER NOT NULL,
  source       TEXT    NOT NULL,
  route        TEXT    NOT NULL,
  item         TEXT    NOT NULL,
  problems     TEXT    NOT NULL,
  item_hash    BLOB,
  count        INTEGER NOT NULL DEFAULT 1,
  last_seen_at INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS quarantine_item ON quarantine (item_hash);
`;

const REPORTS_VIEW = `
CREATE VIEW reports AS
SELECT l.id AS id, n.name AS lane, n.stream AS stream, n.org_id AS org_id,
  json_extract(l.body, '$.fapiInteractionId') AS fapi_interaction_id,
  l.body AS body, l.bytes AS bytes, l.created_at AS created_at, t.repairs AS repairs, t.findings AS findings,
  CASE WHEN x.id IS NOT NULL THEN 'discarded'
       WHEN d.first IS NOT NULL THEN 'accepted'
       WHEN EXISTS (SELECT 1 FROM leases s WHERE s.first <= l.id AND s.last >= l.id) THEN 'inflight'
       ELSE 'pending' END AS state,
  EXISTS (SELECT 1 FROM resends r WHERE r.first <= l.id AND r.last >= l.id) AS resent,
  json_extract(d.report_ids, '$[' || (l.id - d.origin) || ']') AS report_id,
  x.message AS pcm_message,
  x.reason AS dead_letter_reason,
  coalesce(l.ts, l.created_at) AS report_at,
  d.at AS delivered_at
FROM log l
JOIN lanes n ON n.no = (l.id >> ${LANE_BITS})
LEFT JOIN notes t ON t.id = l.id
LEFT JOIN discarded x ON x.id = l.id
LEFT JOIN deliveries d ON d.first = (SELECT max(first) FROM deliveries WHERE first <= l.id) AND d.last >= l.id;
`;

const LEDGER_V3 = `
CREATE TABLE lanes (
  no      INTEGER PRIMARY KEY,
  name    TEXT    NOT NULL UNIQUE,
  stream  TEXT    NOT NULL,
  org_id  TEXT    NOT NULL,
  next    INTEGER NOT NULL DEFAULT 1,
  cursor  INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE log (
  id         INTEGER PRIMARY KEY,
  created_at INTEGER NOT NULL,
  bytes      INTEGER NOT NULL,
  k          BLOB    NOT NULL,
  body       TEXT    NOT NULL
);
CREATE TABLE keyblocks (
  seq INTEGER PRIMARY KEY,
  n   INTEGER NOT NULL,
  ids BLOB    NOT NULL,
  ks  BLOB    NOT NULL
);
CREATE TABLE notes (
  id       INTEGER PRIMARY KEY,
  repairs  TEXT,
  findings TEXT
);
CREATE TABLE leases (
  first INTEGER PRIMARY KEY,
  last  INTEGER NOT NULL,
  at    INTEGER NOT NULL
);
CREATE TABLE resends (
  first INTEGER PRIMARY KEY,
  last  INTEGER NOT NULL
);
CREATE TABLE deliveries (
  first      INTEGER PRIMARY KEY,
  last       INTEGER NOT NULL,
  origin     INTEGER NOT NULL,
  at         INTEGER NOT NULL,
  report_ids TEXT
);
CREATE TABLE discarded (
  id      INTEGER PRIMARY KEY,
  at      INTEGER NOT NULL,
  message TEXT
);
`;

/** 3 → 4: the report's timestamp, the dead letter's reason, the per-day counters; the view shows the first two. */
const MIGRATION_4 = `
ALTER TABLE log ADD COLUMN ts INTEGER;
ALTER TABLE discarded ADD COLUMN reason TEXT NOT NULL DEFAULT 'pcm';
UPDATE discarded SET reason = 'refused' WHERE message LIKE 'Refused by the PCM, not sent again:%';
ALTER TABLE discarded ADD COLUMN replayed_at INTEGER;
CREATE TABLE days (
  day       INTEGER NOT NULL,
  lane      INTEGER NOT NULL,
  received  INTEGER NOT NULL DEFAULT 0,
  delivered INTEGER NOT NULL DEFAULT 0,
  on_time   INTEGER NOT NULL DEFAULT 0,
  discarded INTEGER NOT NULL DEFAULT 0,
  too_old   INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, lane)
) WITHOUT ROWID;
CREATE TABLE late (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL
);
CREATE INDEX late_ts ON late (ts);
DROP VIEW IF EXISTS reports;
${REPORTS_VIEW}
`;

/**
 * 4 → 5: reports per day and endpoint, counted by the write path and the ledger from now on, as `days` is. The day
 * under way and the ones before were in part received before: they are counted from the next day on (`countedFrom`);
 * a new file, from the start.
 */
function migration5(countedFrom: number): string {
  return `
CREATE TABLE endpoint_days (
  day       INTEGER NOT NULL,
  endpoint  TEXT    NOT NULL,
  received  INTEGER NOT NULL DEFAULT 0,
  delivered INTEGER NOT NULL DEFAULT 0,
  discarded INTEGER NOT NULL DEFAULT 0,
  too_old   INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, endpoint)
) WITHOUT ROWID;
CREATE TABLE counted_since (
  counter TEXT    PRIMARY KEY,
  day     INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counted_since (counter, day) VALUES ('endpoint_days', ${Math.trunc(countedFrom)});
`;
}

/** Version 1's report table, kept only to migrate files written by it. */
const REPORTS_V1 = `
CREATE TABLE IF NOT EXISTS reports (
  id INTEGER PRIMARY KEY, stream TEXT NOT NULL DEFAULT 'private', org_id TEXT NOT NULL, lane TEXT NOT NULL,
  dedup_key BLOB NOT NULL UNIQUE, fapi_interaction_id TEXT, body TEXT NOT NULL, repairs TEXT, bytes INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, report_id TEXT,
  pcm_message TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
  id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, source TEXT NOT NULL, route TEXT NOT NULL, item TEXT NOT NULL,
  problems TEXT NOT NULL
);
`;

const MIGRATION_2 = `
ALTER TABLE reports ADD COLUMN findings TEXT;
ALTER TABLE quarantine ADD COLUMN item_hash BLOB;
ALTER TABLE quarantine ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE quarantine ADD COLUMN last_seen_at INTEGER;
CREATE UNIQUE INDEX IF NOT EXISTS quarantine_item ON quarantine (item_hash);
`;

/**
 * 2 → 3: undelivered rows move to the log in their order per lane (in-flight ones become pending and are marked
 * resent: they may have reached the PCM), after the discarded ones with their message (delivered, so they come
 * first and the undelivered ones are the lane's never-leased tail); delivered (accepted) rows are not carried
 * over — they only served de-duplication. The old table and its five indexes go.
 */
const MIGRATION_3 = `
${LEDGER_V3}
INSERT INTO lanes (name, stream, org_id)
  SELECT lane, min(stream), min(org_id) FROM reports WHERE state != 'accepted' GROUP BY lane ORDER BY min(id);
CREATE TEMP TABLE moved AS
  SELECT r.id AS old, (n.no << ${LANE_BITS}) + row_number() OVER (PARTITION BY r.lane ORDER BY r.state != 'discarded', r.id) AS id, r.state AS state
  FROM reports r JOIN lanes n ON n.name = r.lane WHERE r.state != 'accepted';
INSERT INTO log (id, created_at, bytes, k, body) SELECT m.id, r.created_at, r.bytes, r.dedup_key, r.body FROM moved m JOIN reports r ON r.id = m.old ORDER BY m.id;
INSERT INTO notes (id, repairs, findings)
  SELECT m.id, r.repairs, r.findings FROM moved m JOIN reports r ON r.id = m.old WHERE r.repairs IS NOT NULL OR r.findings IS NOT NULL;
INSERT INTO resends (first, last) SELECT id, id FROM moved WHERE state = 'inflight';
INSERT INTO deliveries (first, last, origin, at, report_ids)
  SELECT m.id, m.id, m.id, r.updated_at, json_array(r.report_id) FROM moved m JOIN reports r ON r.id = m.old WHERE m.state = 'discarded';
INSERT INTO discarded (id, at, message) SELECT m.id, r.updated_at, r.pcm_message FROM moved m JOIN reports r ON r.id = m.old WHERE m.state = 'discarded';
INSERT INTO temp.migrated_keys (id, k) SELECT m.id, r.dedup_key FROM moved m JOIN reports r ON r.id = m.old ORDER BY r.id;
UPDATE lanes SET next = 1 + (SELECT count(*) FROM moved WHERE (moved.id >> ${LANE_BITS}) = lanes.no),
  cursor = 1 + (SELECT count(*) FROM moved WHERE (moved.id >> ${LANE_BITS}) = lanes.no AND state = 'discarded');
DROP TABLE moved;
DROP TABLE reports;
`;

/** Keys of one commit (or of a migration, in chunks) packed into keyblock rows: ids as float64, keys of 16 bytes. */
export function packKeys(ids: readonly number[], keys: readonly Buffer[]): { n: number; ids: Buffer; ks: Buffer } {
  const packed = Buffer.allocUnsafe(ids.length * 8);
  for (let i = 0; i < ids.length; i++) packed.writeDoubleLE(ids[i] as number, i * 8);
  return { n: ids.length, ids: packed, ks: Buffer.concat(keys as Buffer[], keys.length * 16) };
}

const KEYBLOCK_CHUNK = 10_000;

/** Migrated keys, in arrival order, as keyblocks of KEYBLOCK_CHUNK (paged: a statement cannot run while another iterates). */
function writeKeyblocks(db: Database.Database): void {
  const page = db.prepare('SELECT seq, id, k FROM temp.migrated_keys WHERE seq > ? ORDER BY seq LIMIT ?');
  const insert = db.prepare('INSERT INTO keyblocks (n, ids, ks) VALUES (?, ?, ?)');
  for (let after = 0; ; ) {
    const rows = page.all(after, KEYBLOCK_CHUNK) as { seq: number; id: number; k: Buffer }[];
    if (rows.length === 0) return;
    const p = packKeys(rows.map((r) => r.id), rows.map((r) => r.k));
    insert.run(p.n, p.ids, p.ks);
    after = (rows[rows.length - 1] as { seq: number }).seq;
  }
}

/** The WAL file is truncated back to this size when a checkpoint has emptied it (SQLite keeps its largest size). */
export const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

export interface OpenOptions {
  path: string;
  sync: 'full' | 'normal';
  maxBytes?: number | undefined;
  /** WAL_SIZE_LIMIT_BYTES unless given (tests use a small one). */
  walLimitBytes?: number | undefined;
}

export interface Opened {
  db: Database.Database;
  /** Rows that were in flight in a version-2 file when it was migrated (pending now). */
  migratedInflight: number;
}

export function openDatabase(options: OpenOptions): Opened {
  const db = new Database(options.path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('busy_timeout = 5000');
    db.pragma(`journal_size_limit = ${options.walLimitBytes ?? WAL_SIZE_LIMIT_BYTES}`);
    if (options.maxBytes !== undefined) {
      const pageSize = db.pragma('page_size', { simple: true }) as number;
      db.pragma(`max_page_count = ${Math.max(16, Math.ceil(options.maxBytes / pageSize))}`);
    }
    let migratedInflight = 0;
    if ((db.pragma('user_version', { simple: true }) as number) < SCHEMA_VERSION) {
      // IMMEDIATE, and the version read again inside: two processes opening an old file at once migrate it once.
      db.transaction(() => {
        const version = db.pragma('user_version', { simple: true }) as number;
        const fresh = version === 0 && db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'reports'").get() === undefined;
        if (fresh) {
          db.exec(QUARANTINE_V2 + LEDGER_V3);
        } else if (version < 3) {
          if (version < 1) db.exec(REPORTS_V1);
          if (version < 2) db.exec(MIGRATION_2);
          migratedInflight = (db.prepare("SELECT count(*) AS n FROM reports WHERE state = 'inflight'").get() as { n: number }).n;
          db.exec('CREATE TEMP TABLE migrated_keys (seq INTEGER PRIMARY KEY, id INTEGER NOT NULL, k BLOB NOT NULL)');
          db.exec(MIGRATION_3);
          writeKeyblocks(db);
          db.exec('DROP TABLE temp.migrated_keys');
        }
        if (version < 4) db.exec(MIGRATION_4);
        if (version < 5) db.exec(migration5(fresh ? 0 : brtDay(Date.now()) + 1));
        if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
    }
    return { db, migratedInflight };
  } catch (err) {
    db.close();
    throw err;
  }
}
