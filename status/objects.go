package status

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/understudy/understudy"
)

// Objects render incidents and maintenances exactly as the API shows them
// (Statuspage's incident object): what webhooks carry, so that a receiver
// sees the same object it would read from /api/v2. One rendering, two uses.

// IncidentObject is inc as Statuspage's incident object, with the current
// components.
func (h *Handler) IncidentObject(ctx context.Context, inc understudy.Incident) (json.RawMessage, error) {
	s, err := h.componentsOnly(ctx)
	if err != nil {
		return nil, err
	}
	return marshalJSON(s.incident(inc))
}

// MaintenanceObject is m as Statuspage's scheduled-maintenance object.
func (h *Handler) MaintenanceObject(ctx context.Context, m understudy.Maintenance) (json.RawMessage, error) {
	s, err := h.componentsOnly(ctx)
	if err != nil {
		return nil, err
	}
	return marshalJSON(s.maintenance(m))
}

// PageStatus is the page's overall indicator and description now.
func (h *Handler) PageStatus(ctx context.Context) (indicator, description string, err error) {
	s, err := h.load(ctx)
	if err != nil {
		return "", "", err
	}
	st := overall(s.comps, s.open, s.active)
	return st.Indicator, st.Description, nil
}

// componentsOnly is a snapshot with the components (no incident lists).
func (h *Handler) componentsOnly(ctx context.Context) (*snapshot, error) {
	comps, err := h.src.Components(ctx)
	if err != nil {
		return nil, fmt.Errorf("status: components: %w", err)
	}
	s := &snapshot{h: h, comps: comps, byName: make(map[string]componentJSON, len(comps))}
	for i, c := range comps {
		s.byName[c.Name] = componentJSON{
			ID: ComponentID(c.Name), Name: ComponentName(c.Name), Status: string(c.Status),
			CreatedAt: stamp(c.Since), UpdatedAt: stamp(c.Since), Position: i + 1,
			Showcase: true, PageID: h.page.ID,
		}
	}
	return s, nil
}
