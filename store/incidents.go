package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
)

// Incidents are rows of incidents with their public updates in
// incident_updates and their timeline in events (incident_id set).
//
// Mapping: zero times are NULL (started_at and updated_at are NOT NULL and
// keep the zero time as its own microsecond count); MergedInto 0 is NULL;
// Components are a JSON array, written [] when nil and read back as nil when
// empty; Evidence is details {"evidence": {...}}, its empty fields omitted
// (an empty Classes map reads back as nil).

// DefaultListLimit is the number of rows Incidents and Maintenances return
// when the filter's Limit is 0.
const DefaultListLimit = 100

const incidentCols = `id, title, status, severity, cause, components, dedupe_key, detector,
	started_at, detected_at, resolved_at, updated_at, last_update_at, eta_at, merged_into, details`

// incidentDetails is the JSON held in incidents.details.
type incidentDetails struct {
	Evidence understudy.Evidence `json:"evidence"`
}

// incidentArgs are the values of every mutable column, in the order of
// incidentCols without id: title … details.
func incidentArgs(inc *understudy.Incident) ([]any, error) {
	comps, err := encodeList(inc.Components)
	if err != nil {
		return nil, fmt.Errorf("components: %w", err)
	}
	details, err := encodeJSON(incidentDetails{Evidence: inc.Evidence})
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	var merged sql.NullInt64
	if inc.MergedInto != 0 {
		merged = sql.NullInt64{Int64: inc.MergedInto, Valid: true}
	}
	return []any{inc.Title, string(inc.Status), string(inc.Severity), string(inc.Cause), comps, inc.Key,
		inc.Detector, inc.StartedAt.UnixMicro(), nullMicros(inc.DetectedAt), nullMicros(inc.ResolvedAt),
		inc.UpdatedAt.UnixMicro(), nullMicros(inc.LastUpdateAt), nullMicros(inc.ETA), merged, details}, nil
}

// CreateIncident inserts inc (its Updates are ignored), then first when it is
// not nil, then evs on the new incident's timeline, in one transaction. On
// success it sets inc.ID, and first.ID and first.IncidentID. When inc is open
// and another open incident has its non-empty Key it fails with
// ErrOpenIncidentExists and writes nothing. The row's created_at is the
// first non-zero of DetectedAt, UpdatedAt and StartedAt.
func (s *Store) CreateIncident(ctx context.Context, inc *understudy.Incident, first *understudy.IncidentUpdate, evs []understudy.Event) error {
	args, err := incidentArgs(inc)
	if err != nil {
		return fmt.Errorf("store: create incident: %w", err)
	}
	created := inc.DetectedAt
	if created.IsZero() {
		created = inc.UpdatedAt
	}
	if created.IsZero() {
		created = inc.StartedAt
	}
	var id, updID int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkOpenKey(ctx, tx, inc, 0); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO incidents (title, status, severity, cause, components,
			dedupe_key, detector, started_at, detected_at, resolved_at, updated_at, last_update_at, eta_at,
			merged_into, details, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id`,
			append(args, created.UnixMicro())...).Scan(&id)
		if err != nil {
			return keyConflict(err, inc.Key)
		}
		if first != nil {
			if updID, err = insertUpdate(ctx, tx, id, first); err != nil {
				return err
			}
		}
		return insertEvents(ctx, tx, id, evs)
	})
	if err != nil {
		return fmt.Errorf("store: create incident %q: %w", inc.Title, err)
	}
	inc.ID = id
	if first != nil {
		first.ID, first.IncidentID = updID, id
	}
	return nil
}

// SaveIncident rewrites every mutable column of incident inc.ID (its Updates
// are ignored), inserts upd when it is not nil (setting upd.ID and
// upd.IncidentID), and appends evs to the incident's timeline, in one
// transaction. It fails with ErrNotFound when there is no such incident and
// with ErrOpenIncidentExists when inc is open and another open incident has
// its non-empty Key (e.g. on reopening); then nothing is written.
func (s *Store) SaveIncident(ctx context.Context, inc *understudy.Incident, upd *understudy.IncidentUpdate, evs []understudy.Event) error {
	return s.saveIncident(ctx, inc, time.Time{}, upd, evs)
}

// SaveIncidentIf is SaveIncident on the condition that the stored incident
// is still the one last saved at prev (its updated_at): otherwise nothing is
// written and the error is ErrChanged. Replicas use it so that one never
// overwrites what another has just saved.
func (s *Store) SaveIncidentIf(ctx context.Context, inc *understudy.Incident, prev time.Time, upd *understudy.IncidentUpdate, evs []understudy.Event) error {
	if prev.IsZero() {
		return fmt.Errorf("store: save incident %d: no previous version given", inc.ID)
	}
	return s.saveIncident(ctx, inc, prev, upd, evs)
}

func (s *Store) saveIncident(ctx context.Context, inc *understudy.Incident, prev time.Time, upd *understudy.IncidentUpdate, evs []understudy.Event) error {
	args, err := incidentArgs(inc)
	if err != nil {
		return fmt.Errorf("store: save incident %d: %w", inc.ID, err)
	}
	params, cond := append(args, inc.ID), ""
	if !prev.IsZero() {
		params, cond = append(params, prev.UnixMicro()), " AND updated_at = $17"
	}
	var updID int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkOpenKey(ctx, tx, inc, inc.ID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE incidents SET title = $1, status = $2, severity = $3,
			cause = $4, components = $5, dedupe_key = $6, detector = $7, started_at = $8, detected_at = $9,
			resolved_at = $10, updated_at = $11, last_update_at = $12, eta_at = $13, merged_into = $14,
			details = $15 WHERE id = $16`+cond, params...)
		if err != nil {
			return keyConflict(err, inc.Key)
		}
		if err := rowsAffected(res); errors.Is(err, ErrNotFound) && !prev.IsZero() {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM incidents WHERE id = $1`, inc.ID).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return ErrChanged
			}
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if upd != nil {
			if updID, err = insertUpdate(ctx, tx, inc.ID, upd); err != nil {
				return err
			}
		}
		return insertEvents(ctx, tx, inc.ID, evs)
	})
	if err != nil {
		return fmt.Errorf("store: save incident %d: %w", inc.ID, err)
	}
	if upd != nil {
		upd.ID, upd.IncidentID = updID, inc.ID
	}
	return nil
}

// checkOpenKey fails with ErrOpenIncidentExists when inc is open, has a key,
// and an open incident other than exceptID has the same key. The unique
// index incidents_open_key backs it up when replicas race.
func checkOpenKey(ctx context.Context, tx *sql.Tx, inc *understudy.Incident, exceptID int64) error {
	if inc.Key == "" || !inc.Status.Open() {
		return nil
	}
	var other int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM incidents
		WHERE dedupe_key = $1 AND status <> 'resolved' AND id <> $2 LIMIT 1`, inc.Key, exceptID).Scan(&other)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("%w: incident %d has key %q", ErrOpenIncidentExists, other, inc.Key)
}

// keyConflict maps a unique violation (the only unique index on incidents
// besides the id is incidents_open_key) to ErrOpenIncidentExists.
func keyConflict(err error, key string) error {
	if isUniqueViolation(err) {
		return fmt.Errorf("%w: key %q", ErrOpenIncidentExists, key)
	}
	return err
}

// Incident returns incident id with its Updates, oldest first; ErrNotFound
// when there is none.
func (s *Store) Incident(ctx context.Context, id int64) (understudy.Incident, error) {
	inc, err := scanIncident(s.read.QueryRowContext(ctx, `SELECT `+incidentCols+` FROM incidents WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err == nil {
		err = s.attachUpdates(ctx, []*understudy.Incident{&inc})
	}
	if err != nil {
		return understudy.Incident{}, fmt.Errorf("store: incident %d: %w", id, err)
	}
	return inc, nil
}

// OpenIncidentByKey returns the open incident whose Key is key, with its
// Updates; ErrNotFound when there is none.
func (s *Store) OpenIncidentByKey(ctx context.Context, key string) (understudy.Incident, error) {
	inc, err := scanIncident(s.read.QueryRowContext(ctx, `SELECT `+incidentCols+` FROM incidents
		WHERE dedupe_key = $1 AND dedupe_key <> '' AND status <> 'resolved' ORDER BY id LIMIT 1`, key))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err == nil {
		err = s.attachUpdates(ctx, []*understudy.Incident{&inc})
	}
	if err != nil {
		return understudy.Incident{}, fmt.Errorf("store: open incident with key %q: %w", key, err)
	}
	return inc, nil
}

// Incidents lists the incidents matching f, newest StartedAt first (ties:
// newest id first), at most f.Limit (DefaultListLimit when 0), each with its
// Updates (fetched with one more query for all of them).
//
// f.Component is matched in two steps: a LIKE on the components JSON text
// with the quoted name (see componentPattern) narrows the rows in SQL, then
// the decoded list is compared exactly in Go; pages of f.Limit rows are read
// until f.Limit incidents match or the rows run out.
func (s *Store) Incidents(ctx context.Context, f understudy.IncidentFilter) ([]understudy.Incident, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Open {
		where = append(where, "status <> 'resolved'")
	}
	if !f.Since.IsZero() {
		where = append(where, "started_at >= "+arg(f.Since.UnixMicro()))
	}
	if f.Component != "" {
		pat, err := componentPattern(s.dialect, f.Component)
		if err != nil {
			return nil, fmt.Errorf("store: incidents: component: %w", err)
		}
		where = append(where, "CAST(components AS TEXT) LIKE "+arg(pat)+" ESCAPE '"+likeEscape+"'")
	}
	var out []understudy.Incident
	var last *understudy.Incident // keyset for the next page
	for {
		pageWhere, pageArgs := where, args
		if last != nil {
			n := len(args)
			pageWhere = append(slices.Clone(where), fmt.Sprintf("(started_at < $%d OR (started_at = $%d AND id < $%d))", n+1, n+1, n+2))
			pageArgs = append(slices.Clone(args), last.StartedAt.UnixMicro(), last.ID)
		}
		query := `SELECT ` + incidentCols + ` FROM incidents`
		if len(pageWhere) > 0 {
			query += " WHERE " + strings.Join(pageWhere, " AND ")
		}
		query += " ORDER BY started_at DESC, id DESC LIMIT " + strconv.Itoa(limit)
		page, err := s.queryIncidents(ctx, query, pageArgs...)
		if err != nil {
			return nil, fmt.Errorf("store: incidents: %w", err)
		}
		for _, inc := range page {
			if f.Component == "" || slices.Contains(inc.Components, f.Component) {
				out = append(out, inc)
			}
		}
		if len(out) >= limit || len(page) < limit || f.Component == "" {
			break
		}
		last = &page[len(page)-1]
	}
	if len(out) > limit {
		out = out[:limit]
	}
	ptrs := make([]*understudy.Incident, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := s.attachUpdates(ctx, ptrs); err != nil {
		return nil, fmt.Errorf("store: incidents: %w", err)
	}
	return out, nil
}

func (s *Store) queryIncidents(ctx context.Context, query string, args ...any) ([]understudy.Incident, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []understudy.Incident
	for rows.Next() {
		inc, err := scanIncident(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	return out, rows.Err()
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanIncident(sc scanner) (understudy.Incident, error) {
	var (
		inc                                           understudy.Incident
		status, severity, cause                       string
		comps, details                                []byte
		started, updated                              int64
		detected, resolved, lastUpdate, eta, mergedTo sql.NullInt64
	)
	if err := sc.Scan(&inc.ID, &inc.Title, &status, &severity, &cause, &comps, &inc.Key, &inc.Detector,
		&started, &detected, &resolved, &updated, &lastUpdate, &eta, &mergedTo, &details); err != nil {
		return understudy.Incident{}, err
	}
	inc.Status, inc.Severity, inc.Cause = understudy.IncidentStatus(status), understudy.Severity(severity), understudy.Cause(cause)
	var err error
	if inc.Components, err = decodeList(comps); err != nil {
		return understudy.Incident{}, fmt.Errorf("incident %d components: %w", inc.ID, err)
	}
	var d incidentDetails
	if err := json.Unmarshal(details, &d); err != nil {
		return understudy.Incident{}, fmt.Errorf("incident %d details: %w", inc.ID, err)
	}
	inc.Evidence = d.Evidence
	inc.StartedAt, inc.UpdatedAt = fromMicros(started), fromMicros(updated)
	inc.DetectedAt, inc.ResolvedAt = fromNullMicros(detected), fromNullMicros(resolved)
	inc.LastUpdateAt, inc.ETA = fromNullMicros(lastUpdate), fromNullMicros(eta)
	inc.MergedInto = mergedTo.Int64
	return inc, nil
}
