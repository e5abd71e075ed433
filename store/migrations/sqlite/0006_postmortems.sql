-- SQLite dialect. Keep in step with ../postgres/0006_postmortems.sql: same
-- columns, same meaning; only types differ. Conventions as in 0001_init.sql.

-- Action items of a postmortem (postmortems.status is now draft | in_review
-- | published). due is unix seconds, NULL when none; status is open | done
-- | dropped. The index serves "overdue": open items due before now.
CREATE TABLE action_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    postmortem_id BIGINT NOT NULL REFERENCES postmortems (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    due BIGINT,
    status TEXT NOT NULL DEFAULT 'open',
    link TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX action_items_postmortem ON action_items (postmortem_id, id);
CREATE INDEX action_items_due ON action_items (status, due);

-- End users who saw a request fail or served degraded, per minute and route:
-- user_hash is the hex SHA-256 (first 16 bytes) of the request's "user"
-- field or of the configured header, never the value itself. Distinct
-- hashes over an incident's window are its "end users affected".
CREATE TABLE affected_users (
    minute BIGINT NOT NULL,
    route TEXT NOT NULL,
    user_hash TEXT NOT NULL,
    PRIMARY KEY (minute, route, user_hash)
);
