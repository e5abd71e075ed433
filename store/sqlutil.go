package store

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Helpers shared by the incident, maintenance and token queries.

// nullMicros maps a time to a nullable unix-microsecond column: the zero time
// is NULL.
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// fromMicros reads a unix-microsecond column as a UTC time. The zero time,
// stored as its own (negative) microsecond count, reads back as the zero time.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// fromNullMicros reads a nullable unix-microsecond column: NULL is the zero time.
func fromNullMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMicros(n.Int64)
}

// encodeJSON marshals v without HTML escaping (<, >, & stay as they are), so
// that JSON text written by SQLite and re-serialised by PostgreSQL's JSONB
// spell strings the same way (see componentPattern).
func encodeJSON(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// encodeList marshals a list of names as a JSON array; nil is written as [].
func encodeList(xs []string) (string, error) {
	if xs == nil {
		xs = []string{}
	}
	return encodeJSON(xs)
}

// decodeList reads a JSON array of names. An empty array reads back as nil,
// never as an empty non-nil slice.
func decodeList(b []byte) ([]string, error) {
	var xs []string
	if err := json.Unmarshal(b, &xs); err != nil {
		return nil, err
	}
	if len(xs) == 0 {
		return nil, nil
	}
	return xs, nil
}

// likeEscape is the LIKE escape character used with likeLiteral.
const likeEscape = "!"

// likeLiteral escapes s for use inside a LIKE pattern with ESCAPE '!'.
func likeLiteral(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// componentPattern is a LIKE pattern (ESCAPE '!') matching JSON array text
// that may hold name as an element: the name JSON-quoted, anywhere. It is a
// prefilter, never the final word: SQLite's LIKE ignores ASCII case, and a
// quoted name can also appear inside a longer element (x"name), so callers
// compare the decoded elements exactly. It never misses a real element: on
// SQLite the text is what encodeJSON wrote, and on PostgreSQL it is JSONB's
// own spelling, which pgQuote reproduces.
func componentPattern(dialect, name string) (string, error) {
	q := pgQuote(name)
	if dialect != DialectPostgres {
		var err error
		if q, err = encodeJSON(name); err != nil {
			return "", err
		}
	}
	return "%" + likeLiteral(q) + "%", nil
}

// pgQuote quotes s as PostgreSQL prints a JSONB string: " and \ escaped,
// \b \f \n \r \t, other control characters as \u00XX, everything else as is
// (unlike Go, which also escapes U+2028 and U+2029).
func pgQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// isUniqueViolation reports whether err is a unique (or primary key)
// constraint violation on either driver.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.SQLState() == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// rowsAffected returns ErrNotFound when res changed no row.
func rowsAffected(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
