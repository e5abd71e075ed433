-- PostgreSQL dialect. Keep in step with ../sqlite/0005_handoff_links.sql: same
-- columns, same meaning; only types differ. Conventions as in 0001_init.sql.

-- Where a handoff conversation lives in an outside support desk: one row
-- per conversation and system (e.g. "chatwoot"), so an inbound event from
-- that system (an agent's reply, a resolution) maps back to the
-- conversation after a restart. external_id is the system's own id, as text
-- in whatever form the connector writes it; one external conversation maps
-- to exactly one of ours.
CREATE TABLE handoff_links (
    conversation_id BIGINT NOT NULL REFERENCES handoff_conversations (id) ON DELETE CASCADE,
    system TEXT NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (conversation_id, system),
    UNIQUE (system, external_id)
);
