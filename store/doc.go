// Package store keeps Understudy's durable state in SQLite (embedded
// default) or PostgreSQL (several replicas), with one set of queries and
// dialect-specific DDL only.
package store

import (
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite", pure Go
)
