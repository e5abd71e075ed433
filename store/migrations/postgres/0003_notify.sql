-- PostgreSQL dialect. Keep in step with ../sqlite/0003_notify.sql: same
-- columns, same meaning; only types differ. Conventions as in 0001_init.sql.

-- kind: webhook | slack | teams | email; status: pending | active | failing | disabled.
ALTER TABLE subscribers ADD COLUMN language TEXT NOT NULL DEFAULT 'en';  -- en | fr
ALTER TABLE subscribers ADD COLUMN last_error TEXT NOT NULL DEFAULT '';  -- last delivery failure; '' when the last one worked
-- Names the signing secret of a webhook (e.g. an environment variable), never the secret itself.
ALTER TABLE subscribers ADD COLUMN secret_ref TEXT NOT NULL DEFAULT '';
CREATE INDEX subscribers_status ON subscribers (status, kind);

-- The notification outbox: one row per subscriber and notification, ever
-- (the idempotency key), retried until delivered or failed.
CREATE TABLE deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    notification_id TEXT NOT NULL,      -- notify.Notification.ID
    status TEXT NOT NULL,               -- pending | delivered | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,    -- when a pending delivery is due
    last_error TEXT NOT NULL DEFAULT '',
    payload JSONB NOT NULL DEFAULT '{}', -- JSON of the notification to send
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (subscriber_id, notification_id)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at, id);
