-- PostgreSQL dialect. Keep in step with ../sqlite/0001_init.sql: same tables,
-- same columns, same meaning; only types differ.
--
-- Conventions:
--   * every time is BIGINT unix microseconds UTC (columns ending in _at, and events.ts),
--     except rollups.minute, which is unix seconds of the minute's start (always a multiple of 60);
--   * JSON payloads are JSONB holding a JSON object ('{}' when empty);
--   * status/kind columns are free text validated by the application.

-- Append-only log; timelines are made of events. incident_id has no foreign key on purpose:
-- events are retained (and deleted) independently of incidents.
CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts BIGINT NOT NULL,
    type TEXT NOT NULL,
    route TEXT NOT NULL DEFAULT '',
    target TEXT NOT NULL DEFAULT '',
    incident_id BIGINT,
    message TEXT NOT NULL DEFAULT '',
    needs_person BOOLEAN NOT NULL DEFAULT FALSE,
    details JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX events_ts ON events (ts, id);
CREATE INDEX events_incident ON events (incident_id, ts) WHERE incident_id IS NOT NULL;

-- Per-minute counters. One count is one request outcome (see store.Rollup).
-- l0..l9 are the latency histogram, t0..t9 the time-to-first-token histogram:
-- bucket i counts values <= store.Buckets[i]; bucket 9 is the overflow (> 60s).
CREATE TABLE rollups (
    minute BIGINT NOT NULL,
    route TEXT NOT NULL,
    target TEXT NOT NULL,
    class TEXT NOT NULL,
    mode TEXT NOT NULL,
    count BIGINT NOT NULL DEFAULT 0,
    latency_sum_ms BIGINT NOT NULL DEFAULT 0,
    l0 BIGINT NOT NULL DEFAULT 0,
    l1 BIGINT NOT NULL DEFAULT 0,
    l2 BIGINT NOT NULL DEFAULT 0,
    l3 BIGINT NOT NULL DEFAULT 0,
    l4 BIGINT NOT NULL DEFAULT 0,
    l5 BIGINT NOT NULL DEFAULT 0,
    l6 BIGINT NOT NULL DEFAULT 0,
    l7 BIGINT NOT NULL DEFAULT 0,
    l8 BIGINT NOT NULL DEFAULT 0,
    l9 BIGINT NOT NULL DEFAULT 0,
    t0 BIGINT NOT NULL DEFAULT 0,
    t1 BIGINT NOT NULL DEFAULT 0,
    t2 BIGINT NOT NULL DEFAULT 0,
    t3 BIGINT NOT NULL DEFAULT 0,
    t4 BIGINT NOT NULL DEFAULT 0,
    t5 BIGINT NOT NULL DEFAULT 0,
    t6 BIGINT NOT NULL DEFAULT 0,
    t7 BIGINT NOT NULL DEFAULT 0,
    t8 BIGINT NOT NULL DEFAULT 0,
    t9 BIGINT NOT NULL DEFAULT 0,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, route, target, class, mode)
);
CREATE INDEX rollups_route_minute ON rollups (route, minute);

-- What the status page shows: each route and each provider.
CREATE TABLE components (
    name TEXT PRIMARY KEY,          -- route name or "provider:NAME"
    display_name TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,             -- route | provider
    position INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE incidents (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title TEXT NOT NULL,
    severity TEXT NOT NULL,         -- minor | major | critical
    status TEXT NOT NULL,           -- investigating | identified | monitoring | resolved
    cause TEXT NOT NULL DEFAULT '', -- technical | maintenance | overload | quota | misconfiguration
    components JSONB NOT NULL DEFAULT '[]', -- JSON array of component names
    started_at BIGINT NOT NULL,
    detected_at BIGINT,
    resolved_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    details JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX incidents_status ON incidents (status, started_at);

CREATE TABLE incident_updates (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    eta_at BIGINT,
    created_at BIGINT NOT NULL,
    details JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX incident_updates_incident ON incident_updates (incident_id, created_at);

CREATE TABLE maintenance_windows (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title TEXT NOT NULL,
    status TEXT NOT NULL,           -- scheduled | in_progress | completed | canceled
    components JSONB NOT NULL DEFAULT '[]',
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    details JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX maintenance_windows_time ON maintenance_windows (starts_at, ends_at);

CREATE TABLE subscribers (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,             -- webhook | slack | email
    address TEXT NOT NULL,          -- URL or e-mail address
    components JSONB NOT NULL DEFAULT '[]', -- empty array = all
    status TEXT NOT NULL,           -- pending | active | disabled
    token_hash TEXT NOT NULL DEFAULT '', -- hex sha256 of the unsubscribe/confirm token
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    details JSONB NOT NULL DEFAULT '{}',
    UNIQUE (kind, address)
);

CREATE TABLE handoff_conversations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    route TEXT NOT NULL,
    status TEXT NOT NULL,           -- waiting | assigned | closed
    priority TEXT NOT NULL DEFAULT '',
    assignee TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    closed_at BIGINT,
    details JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX handoff_conversations_status ON handoff_conversations (status, created_at);

CREATE TABLE handoff_messages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES handoff_conversations (id) ON DELETE CASCADE,
    role TEXT NOT NULL,             -- user | assistant | operator | system
    content TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX handoff_messages_conversation ON handoff_messages (conversation_id, id);

CREATE TABLE postmortems (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id BIGINT NOT NULL UNIQUE REFERENCES incidents (id) ON DELETE CASCADE,
    status TEXT NOT NULL,           -- draft | published
    body TEXT NOT NULL DEFAULT '',  -- Markdown
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    details JSONB NOT NULL DEFAULT '{}'
);

-- Client keys: only the hex SHA-256 of the key is kept.
CREATE TABLE api_keys (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    priority TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
