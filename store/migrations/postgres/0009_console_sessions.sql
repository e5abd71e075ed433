-- PostgreSQL dialect. Keep in step with ../sqlite/0009_console_sessions.sql:
-- same columns, same meaning; only types differ. Conventions as in
-- 0001_init.sql.

-- Console sessions, in the store so that every replica behind a load
-- balancer knows a signed-in user (and a restart signs nobody out). The
-- cookie holds the session id; only its SHA-256 is kept, in hex, like
-- tokens' (admin_tokens.hash). token_hash is the token signed in with,
-- checked again on each request; expires_at in unix microseconds.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    csrf TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
