-- SQLite dialect. Keep in step with ../postgres/0002_incidents.sql: same
-- columns, same meaning; only types differ. Conventions as in 0001_init.sql.

-- Who caused an event: a token name, "understudy" for the detectors, empty for
-- the gateway's own events.
ALTER TABLE events ADD COLUMN author TEXT NOT NULL DEFAULT '';

-- details holds {"evidence": {...}} (understudy.Evidence).
ALTER TABLE incidents ADD COLUMN dedupe_key TEXT NOT NULL DEFAULT '';  -- detector's key; '' for people's incidents
ALTER TABLE incidents ADD COLUMN detector TEXT NOT NULL DEFAULT '';    -- '' when opened by a person
ALTER TABLE incidents ADD COLUMN last_update_at BIGINT;                -- last public update
ALTER TABLE incidents ADD COLUMN eta_at BIGINT;                        -- expected resolution
ALTER TABLE incidents ADD COLUMN merged_into BIGINT;                   -- incident id it was merged into
-- At most one open incident has a given non-empty key.
CREATE UNIQUE INDEX incidents_open_key ON incidents (dedupe_key) WHERE status <> 'resolved' AND dedupe_key <> '';
CREATE INDEX incidents_started ON incidents (started_at, id);

ALTER TABLE incident_updates ADD COLUMN severity TEXT NOT NULL DEFAULT '';
ALTER TABLE incident_updates ADD COLUMN components TEXT NOT NULL DEFAULT '[]'; -- JSON array of component names
ALTER TABLE incident_updates ADD COLUMN author TEXT NOT NULL DEFAULT '';

-- status: scheduled | in_progress | verifying | completed | canceled
ALTER TABLE maintenance_windows ADD COLUMN message TEXT NOT NULL DEFAULT '';
ALTER TABLE maintenance_windows ADD COLUMN targets TEXT NOT NULL DEFAULT '[]'; -- JSON array of provider/model targets
ALTER TABLE maintenance_windows ADD COLUMN started_at BIGINT;
ALTER TABLE maintenance_windows ADD COLUMN ended_at BIGINT;
ALTER TABLE maintenance_windows ADD COLUMN author TEXT NOT NULL DEFAULT '';
CREATE INDEX maintenance_windows_status ON maintenance_windows (status, starts_at);

-- Admin API tokens: only the hex SHA-256 of the secret is kept.
CREATE TABLE admin_tokens (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,            -- admin | operator | agent
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
