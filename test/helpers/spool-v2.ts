/** The DDL of schema version 2 as it shipped (one table, five indexes), to write files the way it did. */
export const V2_DDL = `
CREATE TABLE reports (id INTEGER PRIMARY KEY, stream TEXT NOT NULL DEFAULT 'private', org_id TEXT NOT NULL, lane TEXT NOT NULL,
  dedup_key BLOB NOT NULL UNIQUE, fapi_interaction_id TEXT, body TEXT NOT NULL, repairs TEXT, bytes INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, report_id TEXT, pcm_message TEXT,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, findings TEXT);
CREATE INDEX reports_pending ON reports (lane, id) WHERE state = 'pending';
CREATE INDEX reports_inflight ON reports (id) WHERE state = 'inflight';
CREATE INDEX reports_fapi ON reports (fapi_interaction_id);
CREATE TABLE quarantine (id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, source TEXT NOT NULL, route TEXT NOT NULL,
  item TEXT NOT NULL, problems TEXT NOT NULL, item_hash BLOB, count INTEGER NOT NULL DEFAULT 1, last_seen_at INTEGER);
CREATE UNIQUE INDEX quarantine_item ON quarantine (item_hash);
`;
