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
	"github.com/understudy/understudy/postmortem"
)

// Postmortems are rows of postmortems (one per incident: incident_id is
// unique) with their action items in action_items.
//
// Mapping: status is the workflow status (draft | in_review | published);
// details holds every other field as JSON (postmortemDetails); body holds
// the Markdown export, kept for full-text search and never read back.
// Action items: due is unix seconds (NULL when none), created_at and
// updated_at microseconds.

var _ postmortem.Store = (*Store)(nil)

var (
	// errPostmortemNotFound is both ErrNotFound and postmortem.ErrNotFound.
	errPostmortemNotFound = fmt.Errorf("%w: %w", ErrNotFound, postmortem.ErrNotFound)
	// errPostmortemExists is both ErrExists and postmortem.ErrExists.
	errPostmortemExists = fmt.Errorf("%w: %w", ErrExists, postmortem.ErrExists)
)

// postmortemDetails is what postmortems.details holds.
type postmortemDetails struct {
	Title               string                     `json:"title"`
	Severity            understudy.Severity        `json:"severity,omitempty"`
	Cause               understudy.Cause           `json:"cause,omitempty"`
	Components          []string                   `json:"components,omitempty"`
	Impact              postmortem.Impact          `json:"impact"`
	Metrics             postmortem.Metrics         `json:"metrics"`
	Timeline            []postmortem.TimelineEntry `json:"timeline,omitempty"`
	Summary             string                     `json:"summary,omitempty"`
	Trigger             string                     `json:"trigger,omitempty"`
	RootCause           string                     `json:"root_cause,omitempty"`
	ContributingFactors string                     `json:"contributing_factors,omitempty"`
	WentWell            string                     `json:"went_well,omitempty"`
	WentBadly           string                     `json:"went_badly,omitempty"`
	Lucky               string                     `json:"lucky,omitempty"`
	PublishedAt         time.Time                  `json:"published_at,omitzero"`
	Author              string                     `json:"author,omitempty"`
}

func postmortemArgs(p *postmortem.Postmortem) (details, body string, err error) {
	details, err = encodeJSON(postmortemDetails{Title: p.Title, Severity: p.Severity, Cause: p.Cause, Components: p.Components,
		Impact: p.Impact, Metrics: p.Metrics, Timeline: p.Timeline, Summary: p.Summary, Trigger: p.Trigger,
		RootCause: p.RootCause, ContributingFactors: p.ContributingFactors, WentWell: p.WentWell,
		WentBadly: p.WentBadly, Lucky: p.Lucky, PublishedAt: p.PublishedAt.UTC(), Author: p.Author})
	if err != nil {
		return "", "", fmt.Errorf("details: %w", err)
	}
	return details, string(postmortem.Markdown(*p)), nil
}

// CreatePostmortem inserts p and its ActionItems in one transaction and
// sets their IDs (and the items' times, when zero, to p.CreatedAt). It
// fails with ErrExists (and postmortem.ErrExists) when the incident has a
// postmortem already.
func (s *Store) CreatePostmortem(ctx context.Context, p *postmortem.Postmortem) error {
	details, body, err := postmortemArgs(p)
	if err != nil {
		return fmt.Errorf("store: create postmortem: %w", err)
	}
	var id int64
	items := slices.Clone(p.ActionItems)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO postmortems (incident_id, status, body, created_at, updated_at, details)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, p.IncidentID, string(p.Status), body,
			p.CreatedAt.UnixMicro(), p.UpdatedAt.UnixMicro(), details).Scan(&id)
		if err != nil {
			if isUniqueViolation(err) {
				return errPostmortemExists
			}
			return err
		}
		for i := range items {
			if items[i].CreatedAt.IsZero() {
				items[i].CreatedAt = p.CreatedAt
			}
			if items[i].UpdatedAt.IsZero() {
				items[i].UpdatedAt = items[i].CreatedAt
			}
			if err := insertActionItem(ctx, tx, id, &items[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: create postmortem of incident %d: %w", p.IncidentID, err)
	}
	p.ID, p.ActionItems = id, items
	return nil
}

// SavePostmortem rewrites the status, fields and updated_at of postmortem
// p.ID; its action items are written by their own methods.
func (s *Store) SavePostmortem(ctx context.Context, p *postmortem.Postmortem) error {
	details, body, err := postmortemArgs(p)
	if err != nil {
		return fmt.Errorf("store: save postmortem %d: %w", p.ID, err)
	}
	res, err := s.write.ExecContext(ctx, `UPDATE postmortems SET status = $1, body = $2, updated_at = $3, details = $4
		WHERE id = $5`, string(p.Status), body, p.UpdatedAt.UnixMicro(), details, p.ID)
	if err == nil {
		err = rowsAffected(res)
	}
	if errors.Is(err, ErrNotFound) {
		err = errPostmortemNotFound
	}
	if err != nil {
		return fmt.Errorf("store: save postmortem %d: %w", p.ID, err)
	}
	return nil
}

const postmortemCols = `id, incident_id, status, created_at, updated_at, details`

// Postmortem returns postmortem id with its action items.
func (s *Store) Postmortem(ctx context.Context, id int64) (postmortem.Postmortem, error) {
	return s.onePostmortem(ctx, fmt.Sprintf("postmortem %d", id), `WHERE id = $1`, id)
}

// PostmortemByIncident returns the postmortem of incident incidentID.
func (s *Store) PostmortemByIncident(ctx context.Context, incidentID int64) (postmortem.Postmortem, error) {
	return s.onePostmortem(ctx, fmt.Sprintf("postmortem of incident %d", incidentID), `WHERE incident_id = $1`, incidentID)
}

func (s *Store) onePostmortem(ctx context.Context, what, where string, arg int64) (postmortem.Postmortem, error) {
	ps, err := s.queryPostmortems(ctx, `SELECT `+postmortemCols+` FROM postmortems `+where, arg)
	if err == nil && len(ps) == 0 {
		err = errPostmortemNotFound
	}
	if err != nil {
		return postmortem.Postmortem{}, fmt.Errorf("store: %s: %w", what, err)
	}
	return ps[0], nil
}

// Postmortems lists postmortems matching f, newest first (created_at, then
// id), at most f.Limit (DefaultListLimit when 0), each with its items.
func (s *Store) Postmortems(ctx context.Context, f postmortem.Filter) ([]postmortem.Postmortem, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	query := `SELECT ` + postmortemCols + ` FROM postmortems`
	var args []any
	if f.Status != "" {
		query += ` WHERE status = $1`
		args = append(args, string(f.Status))
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT ` + strconv.Itoa(limit)
	ps, err := s.queryPostmortems(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: postmortems: %w", err)
	}
	return ps, nil
}

// PublishedPostmortems returns, by incident id, the published postmortems
// of the incidents incidentIDs.
func (s *Store) PublishedPostmortems(ctx context.Context, incidentIDs []int64) (map[int64]postmortem.Postmortem, error) {
	out := map[int64]postmortem.Postmortem{}
	for chunk := range slices.Chunk(incidentIDs, updatesBatch) {
		ph := make([]string, len(chunk))
		args := []any{string(postmortem.StatusPublished)}
		for i, id := range chunk {
			args = append(args, id)
			ph[i] = "$" + strconv.Itoa(len(args))
		}
		ps, err := s.queryPostmortems(ctx, `SELECT `+postmortemCols+` FROM postmortems
			WHERE status = $1 AND incident_id IN (`+strings.Join(ph, ", ")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: published postmortems: %w", err)
		}
		for _, p := range ps {
			out[p.IncidentID] = p
		}
	}
	return out, nil
}

// queryPostmortems runs query and attaches every row's action items with
// one more query.
func (s *Store) queryPostmortems(ctx context.Context, query string, args ...any) ([]postmortem.Postmortem, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []postmortem.Postmortem
	err = func() error {
		defer rows.Close()
		for rows.Next() {
			var (
				p                postmortem.Postmortem
				status           string
				created, updated int64
				details          []byte
			)
			if err := rows.Scan(&p.ID, &p.IncidentID, &status, &created, &updated, &details); err != nil {
				return err
			}
			var d postmortemDetails
			if err := json.Unmarshal(details, &d); err != nil {
				return fmt.Errorf("postmortem %d details: %w", p.ID, err)
			}
			p.Status, p.CreatedAt, p.UpdatedAt = postmortem.Status(status), fromMicros(created), fromMicros(updated)
			p.Title, p.Severity, p.Cause, p.Components = d.Title, d.Severity, d.Cause, d.Components
			p.Impact, p.Metrics, p.Timeline = d.Impact, d.Metrics, d.Timeline
			p.Summary, p.Trigger, p.RootCause, p.ContributingFactors = d.Summary, d.Trigger, d.RootCause, d.ContributingFactors
			p.WentWell, p.WentBadly, p.Lucky, p.Author = d.WentWell, d.WentBadly, d.Lucky, d.Author
			if !d.PublishedAt.IsZero() {
				p.PublishedAt = d.PublishedAt.UTC()
			}
			out = append(out, p)
		}
		return rows.Err()
	}()
	if err != nil {
		return nil, err
	}
	return out, s.attachActionItems(ctx, out)
}

const actionItemCols = `id, postmortem_id, title, owner, due, status, link, created_at, updated_at`

// attachActionItems fills the ActionItems of ps, in id order.
func (s *Store) attachActionItems(ctx context.Context, ps []postmortem.Postmortem) error {
	byID := make(map[int64]*postmortem.Postmortem, len(ps))
	for i := range ps {
		byID[ps[i].ID] = &ps[i]
	}
	for chunk := range slices.Chunk(ps, updatesBatch) {
		ph := make([]string, len(chunk))
		args := make([]any, len(chunk))
		for i, p := range chunk {
			ph[i], args[i] = "$"+strconv.Itoa(i+1), p.ID
		}
		rows, err := s.read.QueryContext(ctx, `SELECT `+actionItemCols+` FROM action_items
			WHERE postmortem_id IN (`+strings.Join(ph, ", ")+`) ORDER BY id`, args...)
		if err != nil {
			return fmt.Errorf("action items: %w", err)
		}
		err = func() error {
			defer rows.Close()
			for rows.Next() {
				it, pmID, err := scanActionItem(rows)
				if err != nil {
					return err
				}
				p := byID[pmID]
				p.ActionItems = append(p.ActionItems, it)
			}
			return rows.Err()
		}()
		if err != nil {
			return fmt.Errorf("action items: %w", err)
		}
	}
	return nil
}

func scanActionItem(sc scanner) (postmortem.ActionItem, int64, error) {
	var (
		it               postmortem.ActionItem
		pmID             int64
		due              sql.NullInt64
		status           string
		created, updated int64
	)
	if err := sc.Scan(&it.ID, &pmID, &it.Title, &it.Owner, &due, &status, &it.Link, &created, &updated); err != nil {
		return it, 0, err
	}
	if due.Valid {
		it.Due = time.Unix(due.Int64, 0).UTC()
	}
	it.Status, it.CreatedAt, it.UpdatedAt = postmortem.ItemStatus(status), fromMicros(created), fromMicros(updated)
	return it, pmID, nil
}

// nullSeconds maps a time to a nullable unix-second column: zero is NULL.
func nullSeconds(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.Unix(), Valid: true}
}

func insertActionItem(ctx context.Context, tx *sql.Tx, postmortemID int64, it *postmortem.ActionItem) error {
	return tx.QueryRowContext(ctx, `INSERT INTO action_items (postmortem_id, title, owner, due, status, link, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, postmortemID, it.Title, it.Owner, nullSeconds(it.Due),
		string(it.Status), it.Link, it.CreatedAt.UnixMicro(), it.UpdatedAt.UnixMicro()).Scan(&it.ID)
}

// AddActionItem inserts it on postmortem postmortemID and sets its ID;
// ErrNotFound when there is no such postmortem. Due is kept to the second,
// the times to the microsecond.
func (s *Store) AddActionItem(ctx context.Context, postmortemID int64, it *postmortem.ActionItem) error {
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM postmortems WHERE id = $1`, postmortemID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return errPostmortemNotFound
		}
		c := *it
		if err := insertActionItem(ctx, tx, postmortemID, &c); err != nil {
			return err
		}
		id = c.ID
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: add action item to postmortem %d: %w", postmortemID, err)
	}
	it.ID = id
	return nil
}

// SaveActionItem rewrites item it.ID of postmortem postmortemID (all but
// its CreatedAt); ErrNotFound when the postmortem has no such item.
func (s *Store) SaveActionItem(ctx context.Context, postmortemID int64, it *postmortem.ActionItem) error {
	res, err := s.write.ExecContext(ctx, `UPDATE action_items SET title = $1, owner = $2, due = $3, status = $4, link = $5,
		updated_at = $6 WHERE id = $7 AND postmortem_id = $8`, it.Title, it.Owner, nullSeconds(it.Due), string(it.Status),
		it.Link, it.UpdatedAt.UnixMicro(), it.ID, postmortemID)
	if err == nil {
		err = rowsAffected(res)
	}
	if errors.Is(err, ErrNotFound) {
		err = errPostmortemNotFound
	}
	if err != nil {
		return fmt.Errorf("store: save action item %d of postmortem %d: %w", it.ID, postmortemID, err)
	}
	return nil
}

// DeleteActionItem deletes item itemID of postmortem postmortemID;
// ErrNotFound when it has no such item.
func (s *Store) DeleteActionItem(ctx context.Context, postmortemID, itemID int64) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM action_items WHERE id = $1 AND postmortem_id = $2`, itemID, postmortemID)
	if err == nil {
		err = rowsAffected(res)
	}
	if errors.Is(err, ErrNotFound) {
		err = errPostmortemNotFound
	}
	if err != nil {
		return fmt.Errorf("store: delete action item %d of postmortem %d: %w", itemID, postmortemID, err)
	}
	return nil
}

// OverdueActionItems lists the open action items due before now, soonest
// due first (then by id), with their postmortem, incident and the
// incident's title. The index action_items_due serves it.
func (s *Store) OverdueActionItems(ctx context.Context, now time.Time) ([]postmortem.OverdueItem, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT a.id, a.postmortem_id, a.title, a.owner, a.due, a.status, a.link,
		a.created_at, a.updated_at, p.incident_id, i.title
		FROM action_items a JOIN postmortems p ON p.id = a.postmortem_id JOIN incidents i ON i.id = p.incident_id
		WHERE a.status = $1 AND a.due < $2 ORDER BY a.due, a.id`, string(postmortem.ItemOpen), now.Unix())
	if err != nil {
		return nil, fmt.Errorf("store: overdue action items: %w", err)
	}
	defer rows.Close()
	var out []postmortem.OverdueItem
	for rows.Next() {
		var (
			o                postmortem.OverdueItem
			due              sql.NullInt64
			status           string
			created, updated int64
		)
		if err := rows.Scan(&o.ID, &o.PostmortemID, &o.Title, &o.Owner, &due, &status, &o.Link, &created, &updated,
			&o.IncidentID, &o.IncidentTitle); err != nil {
			return nil, fmt.Errorf("store: overdue action items: %w", err)
		}
		o.Due = time.Unix(due.Int64, 0).UTC()
		o.Status, o.CreatedAt, o.UpdatedAt = postmortem.ItemStatus(status), fromMicros(created), fromMicros(updated)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: overdue action items: %w", err)
	}
	return out, nil
}

// MeasureImpact measures the traffic of routes over [from, to) for a
// postmortem: Impact's counts (handoff apart from the other degraded
// modes) and AffectedUsers.
func (s *Store) MeasureImpact(ctx context.Context, from, to time.Time, routes []string) (postmortem.Traffic, error) {
	im, err := s.Impact(ctx, from, to, routes)
	if err != nil {
		return postmortem.Traffic{}, err
	}
	users, err := s.AffectedUsers(ctx, from, to, routes)
	if err != nil {
		return postmortem.Traffic{}, err
	}
	out := postmortem.Traffic{Requests: im.Requests, Failed: im.Failed, ServedByFailover: im.ServedByFailover,
		HandedOff: im.Degraded[ModeHandoff], Canceled: im.Canceled, UsersAffected: users}
	for mode, n := range im.Degraded {
		if mode == ModeHandoff {
			continue
		}
		if out.Degraded == nil {
			out.Degraded = map[string]int64{}
		}
		out.Degraded[mode] = n
	}
	return out, nil
}
