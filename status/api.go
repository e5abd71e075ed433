package status

import (
	"context"

	"github.com/understudy/understudy"
)

// The endpoints of the API, one per path.

func (h *Handler) summary(ctx context.Context) (any, error) {
	s, err := h.load(ctx)
	if err != nil {
		return nil, err
	}
	return summaryResponse{
		Page:                  s.page(),
		Components:            s.components(),
		Incidents:             s.incidents(s.open),
		ScheduledMaintenances: s.maintenances(s.active, nil),
		Status:                overall(s.comps, s.open, s.active),
	}, nil
}

func (h *Handler) status(ctx context.Context) (any, error) {
	s, err := h.load(ctx)
	if err != nil {
		return nil, err
	}
	return statusResponse{Page: s.page(), Status: overall(s.comps, s.open, s.active)}, nil
}

func (h *Handler) components(ctx context.Context) (any, error) {
	s, err := h.load(ctx)
	if err != nil {
		return nil, err
	}
	return componentsResponse{Page: s.page(), Components: s.components()}, nil
}

func (h *Handler) incidents(ctx context.Context) (any, error) {
	s, err := h.load(ctx)
	if err != nil {
		return nil, err
	}
	incs, err := s.recentIncidents(ctx)
	if err != nil {
		return nil, err
	}
	return incidentsResponse{Page: s.page(), Incidents: s.incidents(incs)}, nil
}

func (h *Handler) unresolved(ctx context.Context) (any, error) {
	s, err := h.load(ctx)
	if err != nil {
		return nil, err
	}
	return incidentsResponse{Page: s.page(), Incidents: s.incidents(s.open)}, nil
}

func (h *Handler) maintenances(ctx context.Context) (any, error) {
	s, err := h.load(ctx)
	if err != nil {
		return nil, err
	}
	ms, err := s.recentMaintenances(ctx)
	if err != nil {
		return nil, err
	}
	return maintenancesResponse{Page: s.page(), ScheduledMaintenances: s.maintenances(ms, nil)}, nil
}

func (h *Handler) upcoming(ctx context.Context) (any, error) {
	return h.activeWith(ctx, func(st understudy.MaintenanceStatus) bool { return st == understudy.MaintenanceScheduled })
}

func (h *Handler) active(ctx context.Context) (any, error) {
	return h.activeWith(ctx, func(st understudy.MaintenanceStatus) bool {
		return st == understudy.MaintenanceInProgress || st == understudy.MaintenanceVerifying
	})
}

func (h *Handler) activeWith(ctx context.Context, keep func(understudy.MaintenanceStatus) bool) (any, error) {
	s, err := h.load(ctx)
	if err != nil {
		return nil, err
	}
	return maintenancesResponse{Page: s.page(), ScheduledMaintenances: s.maintenances(s.active, keep)}, nil
}

func (s *snapshot) incidents(incs []understudy.Incident) []incidentJSON {
	out := make([]incidentJSON, 0, len(incs))
	for _, inc := range incs {
		out = append(out, s.incident(inc))
	}
	return out
}

// maintenances maps ms, keeping those whose status keep accepts (nil: all);
// canceled windows are always left out (Statuspage has no such status).
func (s *snapshot) maintenances(ms []understudy.Maintenance, keep func(understudy.MaintenanceStatus) bool) []maintenanceJSON {
	out := make([]maintenanceJSON, 0, len(ms))
	for _, m := range ms {
		if m.Status == understudy.MaintenanceCanceled || (keep != nil && !keep(m.Status)) {
			continue
		}
		out = append(out, s.maintenance(m))
	}
	return out
}
