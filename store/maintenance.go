package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/understudy/understudy"
)

// Maintenance windows are rows of maintenance_windows. Zero StartedAt and
// EndedAt are NULL; Components and Targets are JSON arrays, written [] when
// nil and read back as nil when empty. Their timeline entries are events with
// no incident id.

const maintenanceCols = `id, title, message, status, components, targets, starts_at, ends_at,
	started_at, ended_at, author, created_at, updated_at`

// maintenanceArgs are the values of maintenanceCols without id, in order.
func maintenanceArgs(m *understudy.Maintenance) ([]any, error) {
	comps, err := encodeList(m.Components)
	if err != nil {
		return nil, fmt.Errorf("components: %w", err)
	}
	targets, err := encodeList(m.Targets)
	if err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	return []any{m.Title, m.Message, string(m.Status), comps, targets, m.StartsAt.UnixMicro(),
		m.EndsAt.UnixMicro(), nullMicros(m.StartedAt), nullMicros(m.EndedAt), m.Author,
		m.CreatedAt.UnixMicro(), m.UpdatedAt.UnixMicro()}, nil
}

// CreateMaintenance inserts m and appends evs (with no incident id) in one
// transaction, and sets m.ID.
func (s *Store) CreateMaintenance(ctx context.Context, m *understudy.Maintenance, evs []understudy.Event) error {
	args, err := maintenanceArgs(m)
	if err != nil {
		return fmt.Errorf("store: create maintenance %q: %w", m.Title, err)
	}
	var id int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO maintenance_windows (title, message, status, components,
			targets, starts_at, ends_at, started_at, ended_at, author, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`, args...).Scan(&id)
		if err != nil {
			return err
		}
		return insertEvents(ctx, tx, 0, evs)
	})
	if err != nil {
		return fmt.Errorf("store: create maintenance %q: %w", m.Title, err)
	}
	m.ID = id
	return nil
}

// SaveMaintenance rewrites every column of window m.ID but its id and
// created_at, and appends evs (with no incident id), in one transaction;
// ErrNotFound when there is no such window.
func (s *Store) SaveMaintenance(ctx context.Context, m *understudy.Maintenance, evs []understudy.Event) error {
	args, err := maintenanceArgs(m)
	if err != nil {
		return fmt.Errorf("store: save maintenance %d: %w", m.ID, err)
	}
	args = append(args[:len(args)-2], args[len(args)-1], m.ID) // drop created_at
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE maintenance_windows SET title = $1, message = $2, status = $3,
			components = $4, targets = $5, starts_at = $6, ends_at = $7, started_at = $8, ended_at = $9,
			author = $10, updated_at = $11 WHERE id = $12`, args...)
		if err != nil {
			return err
		}
		if err := rowsAffected(res); err != nil {
			return err
		}
		return insertEvents(ctx, tx, 0, evs)
	})
	if err != nil {
		return fmt.Errorf("store: save maintenance %d: %w", m.ID, err)
	}
	return nil
}

// Maintenance returns window id; ErrNotFound when there is none.
func (s *Store) Maintenance(ctx context.Context, id int64) (understudy.Maintenance, error) {
	m, err := scanMaintenance(s.read.QueryRowContext(ctx, `SELECT `+maintenanceCols+`
		FROM maintenance_windows WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return understudy.Maintenance{}, fmt.Errorf("store: maintenance %d: %w", id, err)
	}
	return m, nil
}

// Maintenances lists the windows matching f by StartsAt, then id, at most
// f.Limit (DefaultListLimit when 0). f.Active keeps scheduled, in_progress
// and verifying ones.
func (s *Store) Maintenances(ctx context.Context, f understudy.MaintenanceFilter) ([]understudy.Maintenance, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	query := `SELECT ` + maintenanceCols + ` FROM maintenance_windows`
	var args []any
	if f.Active {
		query += ` WHERE status IN ($1, $2, $3)`
		args = append(args, string(understudy.MaintenanceScheduled), string(understudy.MaintenanceInProgress),
			string(understudy.MaintenanceVerifying))
	}
	query += ` ORDER BY starts_at, id LIMIT ` + strconv.Itoa(limit)
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: maintenances: %w", err)
	}
	defer rows.Close()
	var out []understudy.Maintenance
	for rows.Next() {
		m, err := scanMaintenance(rows)
		if err != nil {
			return nil, fmt.Errorf("store: maintenances: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: maintenances: %w", err)
	}
	return out, nil
}

func scanMaintenance(sc scanner) (understudy.Maintenance, error) {
	var (
		m                              understudy.Maintenance
		status                         string
		comps, targets                 []byte
		starts, ends, created, updated int64
		started, ended                 sql.NullInt64
	)
	if err := sc.Scan(&m.ID, &m.Title, &m.Message, &status, &comps, &targets, &starts, &ends,
		&started, &ended, &m.Author, &created, &updated); err != nil {
		return understudy.Maintenance{}, err
	}
	m.Status = understudy.MaintenanceStatus(status)
	var err error
	if m.Components, err = decodeList(comps); err != nil {
		return understudy.Maintenance{}, fmt.Errorf("maintenance %d components: %w", m.ID, err)
	}
	if m.Targets, err = decodeList(targets); err != nil {
		return understudy.Maintenance{}, fmt.Errorf("maintenance %d targets: %w", m.ID, err)
	}
	m.StartsAt, m.EndsAt = fromMicros(starts), fromMicros(ends)
	m.StartedAt, m.EndedAt = fromNullMicros(started), fromNullMicros(ended)
	m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
	return m, nil
}
