package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
)

// StoredEvent is an event as recorded: its row id, the event, and the incident
// it belongs to (0 when none).
type StoredEvent struct {
	ID int64
	understudy.Event
	IncidentID int64
}

// EventQuery filters Events. Zero fields do not filter.
type EventQuery struct {
	From, To   time.Time // From <= time < To
	Route      string
	Target     string
	IncidentID int64
	Types      []string
	Limit      int // 0 means no limit
}

// AppendEvents records events that belong to no incident, in one transaction.
func (s *Store) AppendEvents(ctx context.Context, evs []understudy.Event) error {
	return s.appendEvents(ctx, 0, evs)
}

// AppendIncidentEvents records events on the timeline of incident id.
func (s *Store) AppendIncidentEvents(ctx context.Context, incidentID int64, evs []understudy.Event) error {
	return s.appendEvents(ctx, incidentID, evs)
}

func (s *Store) appendEvents(ctx context.Context, incidentID int64, evs []understudy.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if err := s.inTx(ctx, func(tx *sql.Tx) error { return insertEvents(ctx, tx, incidentID, evs) }); err != nil {
		return fmt.Errorf("store: append events: %w", err)
	}
	return nil
}

// insertEvents writes evs inside tx, on the timeline of incidentID (none when 0).
func insertEvents(ctx context.Context, tx *sql.Tx, incidentID int64, evs []understudy.Event) error {
	if len(evs) == 0 {
		return nil
	}
	var inc sql.NullInt64
	if incidentID != 0 {
		inc = sql.NullInt64{Int64: incidentID, Valid: true}
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO events
		(ts, type, route, target, incident_id, message, needs_person, author, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i, e := range evs {
		details := []byte("{}")
		if len(e.Details) > 0 {
			if details, err = json.Marshal(e.Details); err != nil {
				return fmt.Errorf("event %d (%s): details: %w", i, e.Type, err)
			}
		}
		if _, err := stmt.ExecContext(ctx, e.Time.UnixMicro(), e.Type, e.Route, e.Target, inc,
			e.Message, e.NeedsPerson, e.Author, string(details)); err != nil {
			return fmt.Errorf("event %d (%s): %w", i, e.Type, err)
		}
	}
	return nil
}

// Events returns the events matching q, ordered by time then id. Times come
// back in UTC with microsecond precision.
func (s *Store) Events(ctx context.Context, q EventQuery) ([]StoredEvent, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !q.From.IsZero() {
		where = append(where, "ts >= "+arg(q.From.UnixMicro()))
	}
	if !q.To.IsZero() {
		where = append(where, "ts < "+arg(q.To.UnixMicro()))
	}
	if q.Route != "" {
		where = append(where, "route = "+arg(q.Route))
	}
	if q.Target != "" {
		where = append(where, "target = "+arg(q.Target))
	}
	if q.IncidentID != 0 {
		where = append(where, "incident_id = "+arg(q.IncidentID))
	}
	if len(q.Types) > 0 {
		ph := make([]string, len(q.Types))
		for i, t := range q.Types {
			ph[i] = arg(t)
		}
		where = append(where, "type IN ("+strings.Join(ph, ", ")+")")
	}
	query := `SELECT id, ts, type, route, target, incident_id, message, needs_person, author, details FROM events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY ts, id"
	if q.Limit > 0 {
		query += " LIMIT " + arg(q.Limit)
	}
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	defer rows.Close()
	var out []StoredEvent
	for rows.Next() {
		var (
			e       StoredEvent
			ts      int64
			inc     sql.NullInt64
			details []byte
		)
		if err := rows.Scan(&e.ID, &ts, &e.Type, &e.Route, &e.Target, &inc, &e.Message, &e.NeedsPerson, &e.Author, &details); err != nil {
			return nil, fmt.Errorf("store: events: %w", err)
		}
		e.Time = time.UnixMicro(ts).UTC()
		e.IncidentID = inc.Int64
		var m map[string]any
		if err := json.Unmarshal(details, &m); err != nil {
			return nil, fmt.Errorf("store: events: event %d details: %w", e.ID, err)
		}
		if len(m) > 0 {
			e.Details = m
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	return out, nil
}
