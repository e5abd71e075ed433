package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/understudy/understudy"
)

// registerAPI registers /admin/v1/. Reads need agent scope, incident and
// maintenance writes operator, tokens admin.
func (h *Handler) registerAPI() {
	agent, operator, admin := understudy.ScopeAgent, understudy.ScopeOperator, understudy.ScopeAdmin
	h.api("GET", "whoami", agent, h.apiWhoami)
	h.api("GET", "incidents", agent, h.apiIncidents)
	h.api("POST", "incidents", operator, h.apiCreateIncident)
	h.api("GET", "incidents/{id}", agent, h.apiIncident)
	h.api("POST", "incidents/{id}/updates", operator, h.apiUpdateIncident)
	h.api("POST", "incidents/{id}/resolve", operator, h.apiResolve)
	h.api("POST", "incidents/{id}/reopen", operator, h.apiReopen)
	h.api("POST", "incidents/{id}/merge", operator, h.apiMerge)
	h.api("GET", "maintenances", agent, h.apiMaintenances)
	h.api("POST", "maintenances", operator, h.apiSchedule)
	h.api("POST", "maintenances/{id}/cancel", operator, h.apiCancel)
	h.api("GET", "components", agent, h.apiComponents)
	h.api("GET", "slos", agent, h.apiSLOs)
	h.api("GET", "tokens", admin, h.apiTokens)
	h.api("POST", "tokens", admin, h.apiCreateToken)
	h.api("DELETE", "tokens/{name}", admin, h.apiRevokeToken)
}

func (h *Handler) apiWhoami(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	writeJSON(w, http.StatusOK, WhoamiJSON{Name: p.Name, Scope: string(p.Scope)})
	return nil
}

func (h *Handler) apiIncidents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	open, err := queryBool(q, "open")
	if err != nil {
		return err
	}
	limit, err := queryLimit(q)
	if err != nil {
		return err
	}
	list, err := h.svc.Incidents(r.Context(), understudy.IncidentFilter{Open: open, Component: q.Get("component"), Limit: limit})
	if err != nil {
		return err
	}
	out := IncidentsJSON{Incidents: []IncidentJSON{}}
	for _, inc := range list {
		out.Incidents = append(out.Incidents, incidentJSON(inc))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) apiIncident(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "incident")
	if err != nil {
		return err
	}
	inc, timeline, err := h.incidentDetail(r.Context(), id)
	if err != nil {
		return err
	}
	out := incidentJSON(inc)
	for _, e := range timeline {
		out.Timeline = append(out.Timeline, eventJSON(e))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) incidentDetail(ctx context.Context, id int64) (understudy.Incident, []understudy.Event, error) {
	inc, err := h.svc.Incident(ctx, id)
	if err != nil {
		return inc, nil, err
	}
	timeline, err := h.svc.Timeline(ctx, id)
	return inc, timeline, err
}

func (h *Handler) apiCreateIncident(w http.ResponseWriter, r *http.Request) error {
	var req NewIncidentRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	inc, err := h.createIncident(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, incidentJSON(inc))
	return nil
}

// createIncident checks req's enums and times and opens the incident.
func (h *Handler) createIncident(ctx context.Context, req NewIncidentRequest) (understudy.Incident, error) {
	var inc understudy.Incident
	var err error
	if inc.Severity, err = optEnum("severity", req.Severity, severities...); err != nil {
		return inc, err
	}
	if inc.Cause, err = optEnum("cause", req.Cause, causes...); err != nil {
		return inc, err
	}
	if inc.Status, err = optEnum("status", req.Status, statuses...); err != nil {
		return inc, err
	}
	if inc.ETA, err = rfc3339("eta", req.ETA, false); err != nil {
		return inc, err
	}
	inc.Title, inc.Components = req.Title, sorted(req.Components)
	return h.svc.CreateIncident(ctx, principalFrom(ctx).Name, inc, req.Message)
}

func (h *Handler) apiUpdateIncident(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "incident")
	if err != nil {
		return err
	}
	var req IncidentUpdateRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	c, err := incidentChange(req)
	if err != nil {
		return err
	}
	inc, err := h.svc.UpdateIncident(r.Context(), principalFrom(r.Context()).Name, id, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, incidentJSON(inc))
	return nil
}

// incidentChange checks req's enums and ETA.
func incidentChange(req IncidentUpdateRequest) (understudy.IncidentChange, error) {
	c := understudy.IncidentChange{Message: req.Message, Title: req.Title, Components: req.Components}
	if c.Components != nil {
		c.Components = sorted(c.Components)
	}
	var err error
	if c.Status, err = optEnum("status", req.Status, statuses...); err != nil {
		return c, err
	}
	if c.Severity, err = optEnum("severity", req.Severity, severities...); err != nil {
		return c, err
	}
	if c.Cause, err = optEnum("cause", req.Cause, causes...); err != nil {
		return c, err
	}
	if len(req.ETA) > 0 {
		var s *string
		if err := json.Unmarshal(req.ETA, &s); err != nil {
			return c, understudy.Errorf(understudy.EINVALID, "eta: want an RFC 3339 string or null, got %s", req.ETA)
		}
		eta := &time.Time{} // null: clear it
		if s != nil {
			t, err := rfc3339("eta", *s, true)
			if err != nil {
				return c, err
			}
			eta = &t
		}
		c.ETA = eta
	}
	return c, nil
}

func (h *Handler) apiResolve(w http.ResponseWriter, r *http.Request) error {
	return h.apiMessageAction(w, r, h.svc.ResolveIncident)
}

func (h *Handler) apiReopen(w http.ResponseWriter, r *http.Request) error {
	return h.apiMessageAction(w, r, h.svc.ReopenIncident)
}

type messageAction func(ctx context.Context, author string, id int64, message string) (understudy.Incident, error)

func (h *Handler) apiMessageAction(w http.ResponseWriter, r *http.Request, act messageAction) error {
	id, err := pathID(r, "incident")
	if err != nil {
		return err
	}
	var req MessageRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	inc, err := act(r.Context(), principalFrom(r.Context()).Name, id, req.Message)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, incidentJSON(inc))
	return nil
}

func (h *Handler) apiMerge(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "incident")
	if err != nil {
		return err
	}
	var req MergeRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Into <= 0 {
		return understudy.Errorf(understudy.EINVALID, "into: want the id of the incident to merge into")
	}
	inc, err := h.svc.MergeIncident(r.Context(), principalFrom(r.Context()).Name, id, req.Into)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, incidentJSON(inc))
	return nil
}

func (h *Handler) apiMaintenances(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	active, err := queryBool(q, "active")
	if err != nil {
		return err
	}
	limit, err := queryLimit(q)
	if err != nil {
		return err
	}
	list, err := h.svc.Maintenances(r.Context(), understudy.MaintenanceFilter{Active: active, Limit: limit})
	if err != nil {
		return err
	}
	out := MaintenancesJSON{Maintenances: []MaintenanceJSON{}}
	for _, m := range list {
		out.Maintenances = append(out.Maintenances, maintenanceJSON(m))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) apiSchedule(w http.ResponseWriter, r *http.Request) error {
	var req MaintenanceRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	m, err := h.schedule(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, maintenanceJSON(m))
	return nil
}

func (h *Handler) schedule(ctx context.Context, req MaintenanceRequest) (understudy.Maintenance, error) {
	m := understudy.Maintenance{Title: req.Title, Message: req.Message, Components: sorted(req.Components), Targets: sorted(req.Targets)}
	var err error
	if m.StartsAt, err = rfc3339("starts_at", req.StartsAt, true); err != nil {
		return m, err
	}
	if m.EndsAt, err = rfc3339("ends_at", req.EndsAt, true); err != nil {
		return m, err
	}
	return h.svc.ScheduleMaintenance(ctx, principalFrom(ctx).Name, m)
}

func (h *Handler) apiCancel(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "maintenance")
	if err != nil {
		return err
	}
	m, err := h.svc.CancelMaintenance(r.Context(), principalFrom(r.Context()).Name, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, maintenanceJSON(m))
	return nil
}

func (h *Handler) apiComponents(w http.ResponseWriter, r *http.Request) error {
	list, err := h.svc.Components(r.Context())
	if err != nil {
		return err
	}
	out := ComponentsJSON{Components: []ComponentJSON{}}
	for _, c := range list {
		out.Components = append(out.Components, componentJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) apiSLOs(w http.ResponseWriter, r *http.Request) error {
	list, err := h.svc.SLOs(r.Context())
	if err != nil {
		return err
	}
	out := SLOsJSON{SLOs: []SLOJSON{}}
	for _, s := range list {
		out.SLOs = append(out.SLOs, sloJSON(s))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) apiTokens(w http.ResponseWriter, r *http.Request) error {
	list, err := h.listTokens(r.Context())
	if err != nil {
		return err
	}
	out := TokensJSON{Tokens: []TokenJSON{}}
	for _, t := range list {
		out.Tokens = append(out.Tokens, tokenJSON(t))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) apiCreateToken(w http.ResponseWriter, r *http.Request) error {
	var req TokenRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	t, raw, err := h.createToken(r.Context(), req.Name, req.Scope)
	if err != nil {
		return err
	}
	out := tokenJSON(t)
	out.Token = raw
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (h *Handler) apiRevokeToken(w http.ResponseWriter, r *http.Request) error {
	t, err := h.revokeToken(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tokenJSON(t))
	return nil
}

var errNoTokenStore = understudy.Errorf(understudy.EUNAVAILABLE, "tokens are kept in the store, and storage is disabled: only the bootstrap token works")

func (h *Handler) listTokens(ctx context.Context) ([]understudy.Token, error) {
	if h.tokens == nil {
		return nil, errNoTokenStore
	}
	return h.tokens.Tokens(ctx)
}

var tokenName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// createToken makes a token called name with scope and returns it with its
// raw secret, which is shown once and never kept.
func (h *Handler) createToken(ctx context.Context, name, scope string) (understudy.Token, string, error) {
	s, err := enum("scope", scope, scopes...)
	if err != nil {
		return understudy.Token{}, "", err
	}
	if !tokenName.MatchString(name) {
		return understudy.Token{}, "", understudy.Errorf(understudy.EINVALID, "name: %q must be 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit", name)
	}
	if name == BootstrapName || name == "understudy" {
		return understudy.Token{}, "", understudy.Errorf(understudy.EINVALID, "name: %q is reserved", name)
	}
	if h.tokens == nil {
		return understudy.Token{}, "", errNoTokenStore
	}
	raw, err := GenerateToken()
	if err != nil {
		return understudy.Token{}, "", err
	}
	t := understudy.Token{Name: name, Scope: s, Hash: HashToken(raw), CreatedAt: h.clock.Now().UTC()}
	if err := h.tokens.CreateToken(ctx, t); err != nil {
		if h.isExists(err) {
			return t, "", understudy.Errorf(understudy.ECONFLICT, "a token called %q already exists", name)
		}
		return t, "", err
	}
	return t, raw, nil
}

// revokeToken revokes the token called name and returns it as it is now.
func (h *Handler) revokeToken(ctx context.Context, name string) (understudy.Token, error) {
	if name == BootstrapName {
		return understudy.Token{}, understudy.Errorf(understudy.EINVALID, "the bootstrap token comes from UNDERSTUDY_ADMIN_TOKEN: unset it and restart to revoke it")
	}
	if h.tokens == nil {
		return understudy.Token{}, errNoTokenStore
	}
	now := h.clock.Now().UTC()
	if err := h.tokens.RevokeToken(ctx, name, now); err != nil {
		if h.isNotFound(err) {
			return understudy.Token{}, understudy.Errorf(understudy.ENOTFOUND, "no token called %q", name)
		}
		return understudy.Token{}, err
	}
	list, err := h.tokens.Tokens(ctx)
	if err != nil {
		return understudy.Token{}, err
	}
	for _, t := range list {
		if t.Name == name {
			return t, nil
		}
	}
	return understudy.Token{Name: name, RevokedAt: now}, nil
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
