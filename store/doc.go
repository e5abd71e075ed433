// Package store keeps Understudy's durable state in SQLite (embedded
// default) or PostgreSQL (several replicas), with one set of queries and
// dialect-specific DDL only.
//
// # Dialects
//
// SQLite runs in WAL mode with foreign keys on, a busy timeout, and a single
// writer connection (every write queues in Go on that connection, with BEGIN
// IMMEDIATE) beside a pool of readers. PostgreSQL uses the pgx driver through
// database/sql. Queries are shared and use $1, $2… placeholders, which both
// drivers accept; only the files under migrations/<dialect>/ differ.
//
// # Migrations
//
// migrations/<dialect>/NNNN_name.sql are embedded in the binary and applied by
// Open (or Migrate) in version order, one transaction each, and recorded in
// schema_migrations (version, name, applied_at). Re-running applies nothing; a
// database at a version this binary does not know fails with ErrSchemaTooNew.
// On PostgreSQL an advisory lock serialises replicas migrating at once. Add a
// migration by adding the same-numbered file to both directories.
//
// # Schema conventions
//
//   - Times are BIGINT unix microseconds UTC (events.ts, *_at columns);
//     rollups.minute is unix seconds of the minute's start. Integers keep every
//     comparison and day bucketing (minute / 86400) identical on both dialects.
//   - JSON payloads are TEXT on SQLite and JSONB on PostgreSQL.
//   - Rollup histograms are fixed columns: l0..l9 (latency) and t0..t9
//     (time to first token), bucket i counting values <= Buckets[i] and bucket 9
//     the overflow. Fixed columns let AddRollups add bucket by bucket inside one
//     INSERT … ON CONFLICT DO UPDATE SET lN = rollups.lN + excluded.lN, with no
//     read-modify-write and no decoding; changing Buckets needs a migration.
//   - API keys and admin tokens are kept as the hex SHA-256 of the secret,
//     never the secret.
//   - Optional times (detected_at, resolved_at, eta_at, …) are NULL when the
//     Go time is zero. Lists of names (components, targets) are JSON arrays,
//     written [] for a nil slice and read back as nil when empty.
//
// # Incidents
//
// An incident row carries its detector's dedupe_key; the partial unique index
// incidents_open_key lets at most one open (status <> 'resolved') incident
// hold a given non-empty key. CreateIncident and SaveIncident check for it in
// their transaction and also map the index's unique violation (when replicas
// race) to ErrOpenIncidentExists. Evidence is kept in details as
// {"evidence": {...}}. Public updates are rows of incident_updates; the
// timeline is events with incident_id set, written in the same transaction.
//
// # Handoff links
//
// handoff_links maps a handoff conversation to its copy in an outside
// support desk (system "chatwoot", external id as the connector writes it):
// at most one link per conversation and system, and the unique (system,
// external_id) makes one external conversation belong to one of ours
// (SetHandoffLink fails with ErrExists otherwise).
//
// # Counting
//
// One rollup count is one request outcome, attributed to the target that
// finished it. Serving modes map to outcomes with OutcomeOf: good (primary,
// failover, resumed), degraded (degraded_*, handoff, notice), canceled
// (client_canceled, outside every denominator) and failed (anything else).
// SLI, DailyUptime and Impact are all derived from that one mapping.
//
// # Backup
//
// Backup copies a live SQLite database with VACUUM INTO. A PostgreSQL store is
// backed up with pg_dump (pg_dump --format=custom) and restored with
// pg_restore; Backup says so.
package store

import (
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite", pure Go
)
