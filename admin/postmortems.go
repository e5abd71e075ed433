package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/postmortem"
)

// Postmortems are the postmortems as the admin API and the console use
// them; *postmortem.Service implements it. Errors follow Service's rules.
type Postmortems interface {
	List(ctx context.Context, f postmortem.Filter) ([]postmortem.Postmortem, error)
	Get(ctx context.Context, id int64) (postmortem.Postmortem, error)
	ByIncident(ctx context.Context, incidentID int64) (postmortem.Postmortem, error)
	Draft(ctx context.Context, incidentID int64) (postmortem.Postmortem, error)
	Update(ctx context.Context, author string, id int64, c postmortem.Change) (postmortem.Postmortem, error)
	Submit(ctx context.Context, author string, id int64) (postmortem.Postmortem, error)
	Publish(ctx context.Context, author string, id int64) (postmortem.Postmortem, error)
	AddActionItem(ctx context.Context, author string, id int64, it postmortem.ActionItem) (postmortem.ActionItem, error)
	UpdateActionItem(ctx context.Context, author string, id, itemID int64, c postmortem.ItemChange) (postmortem.ActionItem, error)
	RemoveActionItem(ctx context.Context, author string, id, itemID int64) error
	OverdueActionItems(ctx context.Context) ([]postmortem.OverdueItem, error)
}

var _ Postmortems = (*postmortem.Service)(nil)

// registerPostmortems adds the postmortem API and pages when the service
// exists: reads need agent scope, changes operator.
func (h *Handler) registerPostmortems() {
	if h.pm == nil {
		return
	}
	agent, operator := understudy.ScopeAgent, understudy.ScopeOperator
	h.api("GET", "postmortems", agent, h.apiPostmortems)
	h.api("POST", "postmortems", operator, h.apiDraft)
	// {id} is "12", or "12.md" and "12.html" for the exports.
	h.api("GET", "postmortems/{id}", agent, h.apiPostmortem)
	h.api("PATCH", "postmortems/{id}", operator, h.apiUpdatePostmortem)
	h.api("POST", "postmortems/{id}/submit", operator, h.apiSubmit)
	h.api("POST", "postmortems/{id}/publish", operator, h.apiPublish)
	h.api("POST", "postmortems/{id}/action-items", operator, h.apiAddItem)
	h.api("PATCH", "postmortems/{id}/action-items/{item}", operator, h.apiUpdateItem)
	h.api("DELETE", "postmortems/{id}/action-items/{item}", operator, h.apiRemoveItem)
	h.api("GET", "action-items/overdue", agent, h.apiOverdue)

	page := func(method, pattern string, scope understudy.Scope, fn http.HandlerFunc) {
		h.route(method, "/console/"+pattern, scope, fn)
	}
	page("GET", "postmortems", agent, h.consolePostmortems)
	page("GET", "postmortems/{id}", agent, h.consolePostmortem)
	page("POST", "postmortems/{id}", operator, h.consoleEditPostmortem)
	page("POST", "postmortems/{id}/submit", operator, h.consoleSubmit)
	page("POST", "postmortems/{id}/publish", operator, h.consolePublish)
	page("POST", "postmortems/{id}/action-items", operator, h.consoleAddItem)
	page("POST", "postmortems/{id}/action-items/{item}", operator, h.consoleEditItem)
	page("POST", "postmortems/{id}/action-items/{item}/delete", operator, h.consoleRemoveItem)
	page("POST", "incidents/{id}/postmortem", operator, h.consoleDraft)
}

// Exports of a postmortem, by the suffix of its {id}.
const (
	exportMarkdown = ".md"
	exportHTML     = ".html"
)

// postmortemPath reads {id}, with an optional export suffix.
func postmortemPath(r *http.Request) (int64, string, error) {
	s := r.PathValue("id")
	var export string
	for _, suffix := range []string{exportMarkdown, exportHTML} {
		if base, ok := strings.CutSuffix(s, suffix); ok {
			s, export = base, suffix
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, "", understudy.Errorf(understudy.EINVALID, "postmortem id %q is not a positive number (optionally followed by .md or .html)", r.PathValue("id"))
	}
	return id, export, nil
}

// itemID is the {item} path value.
func itemID(r *http.Request) (int64, error) {
	s := r.PathValue("item")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, understudy.Errorf(understudy.EINVALID, "action item id %q is not a positive number", s)
	}
	return id, nil
}

var postmortemStatuses = []postmortem.Status{postmortem.StatusDraft, postmortem.StatusInReview, postmortem.StatusPublished}
var itemStatuses = []postmortem.ItemStatus{postmortem.ItemOpen, postmortem.ItemDone, postmortem.ItemDropped}

func (h *Handler) apiPostmortems(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	st, err := optEnum("status", q.Get("status"), postmortemStatuses...)
	if err != nil {
		return err
	}
	limit, err := queryLimit(q)
	if err != nil {
		return err
	}
	list, err := h.pm.List(r.Context(), postmortem.Filter{Status: st, Limit: limit})
	if err != nil {
		return err
	}
	out := PostmortemsJSON{Postmortems: []PostmortemJSON{}}
	for _, p := range list {
		out.Postmortems = append(out.Postmortems, postmortemJSON(p))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) apiDraft(w http.ResponseWriter, r *http.Request) error {
	var req DraftRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.IncidentID <= 0 {
		return understudy.Errorf(understudy.EINVALID, "incident_id: want the id of a resolved incident")
	}
	p, err := h.pm.Draft(r.Context(), req.IncidentID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, postmortemJSON(p))
	return nil
}

func (h *Handler) apiPostmortem(w http.ResponseWriter, r *http.Request) error {
	id, export, err := postmortemPath(r)
	if err != nil {
		return err
	}
	p, err := h.pm.Get(r.Context(), id)
	if err != nil {
		return err
	}
	if export != "" {
		return writeExport(w, p, export)
	}
	writeJSON(w, http.StatusOK, postmortemJSON(p))
	return nil
}

// writeExport writes p as Markdown or as its HTML page.
func writeExport(w http.ResponseWriter, p postmortem.Postmortem, export string) error {
	body, ctype := postmortem.Markdown(p), "text/markdown; charset=utf-8"
	if export == exportHTML {
		var err error
		if body, err = postmortem.HTML(p); err != nil {
			return err
		}
		ctype = "text/html; charset=utf-8"
		// The page is self-contained: its own inline style, nothing else.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="postmortem-%d%s"`, p.ID, export))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

func (h *Handler) apiUpdatePostmortem(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "postmortem")
	if err != nil {
		return err
	}
	var req PostmortemChangeRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	p, err := h.pm.Update(r.Context(), principalFrom(r.Context()).Name, id, postmortem.Change{Summary: req.Summary,
		Trigger: req.Trigger, RootCause: req.RootCause, ContributingFactors: req.ContributingFactors,
		WentWell: req.WentWell, WentBadly: req.WentBadly, Lucky: req.Lucky})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, postmortemJSON(p))
	return nil
}

type postmortemAction func(ctx context.Context, author string, id int64) (postmortem.Postmortem, error)

func (h *Handler) apiPostmortemAction(w http.ResponseWriter, r *http.Request, act postmortemAction) error {
	id, err := pathID(r, "postmortem")
	if err != nil {
		return err
	}
	p, err := act(r.Context(), principalFrom(r.Context()).Name, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, postmortemJSON(p))
	return nil
}

func (h *Handler) apiSubmit(w http.ResponseWriter, r *http.Request) error {
	return h.apiPostmortemAction(w, r, h.pm.Submit)
}

func (h *Handler) apiPublish(w http.ResponseWriter, r *http.Request) error {
	return h.apiPostmortemAction(w, r, h.pm.Publish)
}

// itemChange checks req's status and due date.
func itemChange(req ActionItemRequest) (postmortem.ItemChange, error) {
	c := postmortem.ItemChange{Title: req.Title, Owner: req.Owner, Link: req.Link}
	if req.Status != nil {
		st, err := enum("status", *req.Status, itemStatuses...)
		if err != nil {
			return c, err
		}
		c.Status = &st
	}
	if len(req.Due) > 0 {
		var s *string
		if err := json.Unmarshal(req.Due, &s); err != nil {
			return c, understudy.Errorf(understudy.EINVALID, "due: want an RFC 3339 time, a date (2006-01-02) or null, got %s", req.Due)
		}
		due := time.Time{} // null: clear it
		if s != nil {
			var err error
			if due, err = parseDue(*s); err != nil {
				return c, err
			}
		}
		c.Due = &due
	}
	return c, nil
}

// parseDue reads a due date: RFC 3339, or a date meaning the end of that
// day (UTC); empty is none.
func parseDue(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.Add(24*time.Hour - time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, understudy.Errorf(understudy.EINVALID, "due: %q is neither a date (2006-01-02) nor an RFC 3339 time", s)
	}
	return t, nil
}

func (h *Handler) apiAddItem(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "postmortem")
	if err != nil {
		return err
	}
	var req ActionItemRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	it, err := h.addItem(r, id, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, actionItemJSON(it))
	return nil
}

func (h *Handler) addItem(r *http.Request, id int64, req ActionItemRequest) (postmortem.ActionItem, error) {
	c, err := itemChange(req)
	if err != nil {
		return postmortem.ActionItem{}, err
	}
	var it postmortem.ActionItem
	for _, f := range []struct {
		v   *string
		dst *string
	}{{c.Title, &it.Title}, {c.Owner, &it.Owner}, {c.Link, &it.Link}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if c.Due != nil {
		it.Due = *c.Due
	}
	if c.Status != nil {
		it.Status = *c.Status
	}
	return h.pm.AddActionItem(r.Context(), principalFrom(r.Context()).Name, id, it)
}

func (h *Handler) apiUpdateItem(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "postmortem")
	if err != nil {
		return err
	}
	item, err := itemID(r)
	if err != nil {
		return err
	}
	var req ActionItemRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	c, err := itemChange(req)
	if err != nil {
		return err
	}
	it, err := h.pm.UpdateActionItem(r.Context(), principalFrom(r.Context()).Name, id, item, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, actionItemJSON(it))
	return nil
}

func (h *Handler) apiRemoveItem(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "postmortem")
	if err != nil {
		return err
	}
	item, err := itemID(r)
	if err != nil {
		return err
	}
	if err := h.pm.RemoveActionItem(r.Context(), principalFrom(r.Context()).Name, id, item); err != nil {
		return err
	}
	p, err := h.pm.Get(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, postmortemJSON(p))
	return nil
}

func (h *Handler) apiOverdue(w http.ResponseWriter, r *http.Request) error {
	list, err := h.pm.OverdueActionItems(r.Context())
	if err != nil {
		return err
	}
	out := ActionItemsJSON{ActionItems: []ActionItemJSON{}}
	for _, o := range list {
		j := actionItemJSON(o.ActionItem)
		j.PostmortemID, j.IncidentID, j.IncidentTitle = o.PostmortemID, o.IncidentID, o.IncidentTitle
		out.ActionItems = append(out.ActionItems, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
