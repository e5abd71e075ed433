package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Dialects returned by (*Store).Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Sentinel errors.
var (
	// ErrNotFound is returned when a looked-up row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrSchemaTooNew is returned when the database holds a migration newer than
	// this binary knows: an older binary must not write to a newer schema.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
	// ErrConfig is returned by Open for an invalid Config.
	ErrConfig = errors.New("store: invalid config")
	// ErrExists is returned when a row with the same unique name or hash
	// already exists (CreateToken).
	ErrExists = errors.New("store: already exists")
	// ErrOpenIncidentExists is returned by CreateIncident and SaveIncident when
	// another open incident already has the incident's non-empty Key.
	ErrOpenIncidentExists = errors.New("store: an open incident already has this key")
	// ErrChanged is returned by SaveIncidentIf when the incident was saved
	// by someone else (another replica) since it was read.
	ErrChanged = errors.New("store: changed since it was read")
)

// Config selects the database. Exactly one field must be set.
type Config struct {
	// SQLitePath is the SQLite database file, created when missing. Empty means
	// not SQLite.
	SQLitePath string
	// PostgresDSN is a PostgreSQL connection string (URL or key=value) for the
	// pgx driver. Empty means not PostgreSQL. It may hold a password: it is
	// never logged nor put in an error.
	PostgresDSN string
}

// Store is Understudy's durable state over SQLite or PostgreSQL. It is safe for
// concurrent use.
type Store struct {
	dialect string
	// write takes every write. On SQLite it holds a single connection: the one
	// writer, so writers queue in Go instead of failing with SQLITE_BUSY.
	// On PostgreSQL write and read are the same pool.
	write *sql.DB
	// read serves queries (a pool; WAL lets SQLite readers run beside the writer).
	read *sql.DB
	// password is the PostgreSQL password, to keep it out of Ping's errors.
	password string
}

// postgresConnectTimeout bounds a PostgreSQL connection attempt when the DSN
// sets no connect_timeout.
const postgresConnectTimeout = 5 * time.Second

// sqliteBusyTimeout bounds how long an SQLite connection waits for a lock
// (readers during checkpoints, a second process on the same file).
const sqliteBusyTimeout = 10 * time.Second

// Open opens the database named by c and applies any pending migrations.
func Open(ctx context.Context, c Config) (*Store, error) {
	var s *Store
	switch {
	case c.SQLitePath != "" && c.PostgresDSN != "":
		return nil, fmt.Errorf("%w: set either SQLitePath or PostgresDSN, not both", ErrConfig)
	case c.SQLitePath != "":
		var err error
		if s, err = openSQLite(c.SQLitePath); err != nil {
			return nil, err
		}
	case c.PostgresDSN != "":
		cc, err := pgx.ParseConfig(c.PostgresDSN)
		if err != nil {
			// The driver's message may echo the DSN; do not pass it on.
			return nil, errors.New("store: open postgres: invalid DSN")
		}
		if cc.ConnectTimeout == 0 {
			// Without one, a connection attempt to an unreachable server
			// lasts as long as the caller's context (or the kernel's SYN
			// retries): bound it, so that callers fail fast during an outage.
			cc.ConnectTimeout = postgresConnectTimeout
		}
		db := stdlib.OpenDB(*cc)
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(8)
		db.SetConnMaxIdleTime(5 * time.Minute)
		s = &Store{dialect: DialectPostgres, write: db, read: db, password: cc.Password}
	default:
		return nil, fmt.Errorf("%w: neither SQLitePath nor PostgresDSN is set", ErrConfig)
	}
	if err := s.write.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: connect %s: %w", s.dialect, err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func openSQLite(path string) (*Store, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("%w: SQLitePath %q: ? and # are not allowed in the file name", ErrConfig, path)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "synchronous(NORMAL)")
	readDSN := "file:" + path + "?" + q.Encode()
	// BEGIN IMMEDIATE: a write transaction takes the lock at its start instead
	// of failing to upgrade a read lock halfway.
	q.Set("_txlock", "immediate")
	writeDSN := "file:" + path + "?" + q.Encode()

	w, err := sql.Open("sqlite", writeDSN)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", readDSN)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	return &Store{dialect: DialectSQLite, write: w, read: r}, nil
}

// Dialect returns DialectSQLite or DialectPostgres.
func (s *Store) Dialect() string { return s.dialect }

// Ping checks that the database answers within ctx. Its error never holds
// the PostgreSQL password (a driver's message may quote the connection
// settings).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		msg := err.Error()
		if s.password != "" {
			msg = strings.ReplaceAll(msg, s.password, "xxxxx")
		}
		return &pingError{msg: "store: ping " + s.dialect + ": " + msg, err: err}
	}
	return nil
}

// pingError is a Ping failure with the password taken out of its message;
// errors.Is still sees the cause (context.DeadlineExceeded, say).
type pingError struct {
	msg string
	err error
}

func (e *pingError) Error() string { return e.msg }
func (e *pingError) Unwrap() error { return e.err }

// Close closes every connection.
func (s *Store) Close() error {
	err := s.write.Close()
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

//go:embed migrations
var migrationFS embed.FS

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string // file name, e.g. "0001_init.sql"
	SQL     string
}

// Migrations returns the dialect's embedded migrations in version order.
// File names are NNNN_name.sql; the number is the version.
func Migrations(dialect string) ([]Migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("store: migrations for %q: %w", dialect, err)
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s/%s: name must start with a positive number", dir, name)
		}
		b, err := fs.ReadFile(migrationFS, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("store: migration %s/%s: %w", dir, name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("store: migrations %s and %s share version %d", ms[i-1].Name, ms[i].Name, ms[i].Version)
		}
	}
	return ms, nil
}

// migrationLockID is the PostgreSQL advisory lock key that serialises
// migrations when several replicas start at once ("understudy" in ASCII, cut).
const migrationLockID = 0x756e64657273

// Migrate applies pending migrations, each in its own transaction, records
// them in schema_migrations, and returns the versions it applied (none when
// the schema is current). It fails with ErrSchemaTooNew when the database has
// a version this binary does not know. Open calls it.
func (s *Store) Migrate(ctx context.Context) ([]int, error) {
	ms, err := Migrations(s.dialect)
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockMigrations(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY,
			name TEXT NOT NULL,
			applied_at BIGINT NOT NULL)`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: migrate: create schema_migrations: %w", err)
	}
	var applied []int
	for _, m := range ms {
		done := false
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			if err := s.lockMigrations(ctx, tx); err != nil {
				return err
			}
			var newest sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&newest); err != nil {
				return err
			}
			if known := ms[len(ms)-1].Version; newest.Valid && int(newest.Int64) > known {
				return fmt.Errorf("%w: database is at version %d, this binary knows up to %d",
					ErrSchemaTooNew, newest.Int64, known)
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				done = true
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("store: migrate %s %s: %w", s.dialect, m.Name, err)
		}
		if !done {
			applied = append(applied, m.Version)
		}
	}
	return applied, nil
}

// AppliedMigration is one row of schema_migrations.
type AppliedMigration struct {
	Version   int
	Name      string
	AppliedAt time.Time
}

// AppliedMigrations lists schema_migrations in version order.
func (s *Store) AppliedMigrations(ctx context.Context) ([]AppliedMigration, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("store: applied migrations: %w", err)
	}
	defer rows.Close()
	var out []AppliedMigration
	for rows.Next() {
		var m AppliedMigration
		var at int64
		if err := rows.Scan(&m.Version, &m.Name, &at); err != nil {
			return nil, fmt.Errorf("store: applied migrations: %w", err)
		}
		m.AppliedAt = time.UnixMicro(at).UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: applied migrations: %w", err)
	}
	return out, nil
}

// lockMigrations serialises migrating replicas on PostgreSQL until tx ends.
// SQLite needs nothing: its single writer and BEGIN IMMEDIATE already do it.
func (s *Store) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLockID))
	return err
}

// inTx runs fn in a write transaction, committing when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
