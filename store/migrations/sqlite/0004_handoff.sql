-- SQLite dialect. Keep in step with ../postgres/0004_handoff.sql: same
-- columns, same meaning; only types differ. Conventions as in 0001_init.sql.

-- When an agent claimed the conversation: NULL while waiting. Handling time
-- (closed_at - assigned_at) feeds the wait estimate. handoff_messages.role
-- is user | assistant | agent | system ("agent" is the person who took over).
ALTER TABLE handoff_conversations ADD COLUMN assigned_at BIGINT;

-- The most recently closed conversations, for the wait estimate.
CREATE INDEX handoff_conversations_closed ON handoff_conversations (closed_at) WHERE status = 'closed';
