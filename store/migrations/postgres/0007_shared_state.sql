-- PostgreSQL dialect. Keep in step with ../sqlite/0007_shared_state.sql: same
-- columns, same meaning; only types differ. Conventions as in 0001_init.sql.

-- State the leader replica derives and every replica shows: one row per
-- name (e.g. "components": each component's status and the routes'
-- in-band notices), a JSON document written whole. Followers read it when
-- the leader says it changed and on every tick; a new leader starts from
-- it, so hysteresis and statuses carry over a takeover.
CREATE TABLE shared_state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
