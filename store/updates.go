package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/understudy/understudy"
)

// Incident updates are rows of incident_updates: one public message each,
// with the status, severity, ETA and components as of that message. A zero
// ETA is NULL; Components are written [] when nil and read back as nil when
// empty.

const updateCols = `id, incident_id, status, severity, message, eta_at, components, author, created_at, details`

// updateDetails is what incident_updates.details holds.
type updateDetails struct {
	Translations map[string]string `json:"translations,omitempty"`
}

// insertUpdate writes u on incident incidentID inside tx and returns its id.
func insertUpdate(ctx context.Context, tx *sql.Tx, incidentID int64, u *understudy.IncidentUpdate) (int64, error) {
	comps, err := encodeList(u.Components)
	if err != nil {
		return 0, fmt.Errorf("update: components: %w", err)
	}
	details, err := json.Marshal(updateDetails{Translations: u.Translations})
	if err != nil {
		return 0, fmt.Errorf("update: details: %w", err)
	}
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO incident_updates
		(incident_id, status, severity, message, eta_at, components, author, created_at, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		incidentID, string(u.Status), string(u.Severity), u.Message, nullMicros(u.ETA), comps, u.Author,
		u.CreatedAt.UnixMicro(), string(details)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("update: %w", err)
	}
	return id, nil
}

// updatesBatch bounds the ids in one IN list.
const updatesBatch = 500

// attachUpdates fills the Updates of incs, oldest first, with one query per
// updatesBatch incidents.
func (s *Store) attachUpdates(ctx context.Context, incs []*understudy.Incident) error {
	byID := make(map[int64]*understudy.Incident, len(incs))
	for _, inc := range incs {
		byID[inc.ID] = inc
	}
	for chunk := range slices.Chunk(incs, updatesBatch) {
		ph := make([]string, len(chunk))
		args := make([]any, len(chunk))
		for i, inc := range chunk {
			ph[i] = "$" + strconv.Itoa(i+1)
			args[i] = inc.ID
		}
		rows, err := s.read.QueryContext(ctx, `SELECT `+updateCols+` FROM incident_updates
			WHERE incident_id IN (`+strings.Join(ph, ", ")+`) ORDER BY created_at, id`, args...)
		if err != nil {
			return fmt.Errorf("updates: %w", err)
		}
		err = func() error {
			defer rows.Close()
			for rows.Next() {
				u, err := scanUpdate(rows)
				if err != nil {
					return err
				}
				inc := byID[u.IncidentID]
				inc.Updates = append(inc.Updates, u)
			}
			return rows.Err()
		}()
		if err != nil {
			return fmt.Errorf("updates: %w", err)
		}
	}
	return nil
}

func scanUpdate(sc scanner) (understudy.IncidentUpdate, error) {
	var (
		u                understudy.IncidentUpdate
		status, severity string
		comps            []byte
		eta              sql.NullInt64
		created          int64
		details          []byte
	)
	if err := sc.Scan(&u.ID, &u.IncidentID, &status, &severity, &u.Message, &eta, &comps, &u.Author, &created, &details); err != nil {
		return understudy.IncidentUpdate{}, err
	}
	var d updateDetails
	if len(details) > 0 {
		if err := json.Unmarshal(details, &d); err != nil {
			return understudy.IncidentUpdate{}, fmt.Errorf("update %d details: %w", u.ID, err)
		}
	}
	u.Translations = d.Translations
	u.Status, u.Severity = understudy.IncidentStatus(status), understudy.Severity(severity)
	var err error
	if u.Components, err = decodeList(comps); err != nil {
		return understudy.IncidentUpdate{}, fmt.Errorf("update %d components: %w", u.ID, err)
	}
	u.ETA, u.CreatedAt = fromNullMicros(eta), fromMicros(created)
	return u, nil
}
