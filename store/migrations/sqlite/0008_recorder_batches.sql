-- SQLite dialect. Keep in step with ../postgres/0008_recorder_batches.sql: same
-- columns, same meaning; only types differ. Conventions as in 0001_init.sql.

-- Recorder batches already written (WriteBatch), so that a batch retried
-- after a failure whose commit may have gone through (the connection broke
-- after COMMIT was sent) is not counted twice. written_at is unix seconds;
-- rows older than a day are deleted by Retain (a batch is retried within
-- minutes, by the process that made it).
CREATE TABLE recorder_batches (
    id TEXT PRIMARY KEY,
    written_at BIGINT NOT NULL
);
CREATE INDEX recorder_batches_written_at ON recorder_batches (written_at);
