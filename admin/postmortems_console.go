package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/postmortem"
)

// The console's postmortem pages: the list, and one page per postmortem
// with what was measured, the written fields' form, the action items, the
// review buttons and the exports.

type postmortemsData struct {
	List []postmortemRow
}

// postmortemRow is a postmortem in the list, with its open items counted.
type postmortemRow struct {
	postmortem.Postmortem
	Open int
}

func (h *Handler) consolePostmortems(w http.ResponseWriter, r *http.Request) {
	list, err := h.pm.List(r.Context(), postmortem.Filter{Limit: 100})
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	var d postmortemsData
	for _, p := range list {
		row := postmortemRow{Postmortem: p}
		for _, it := range p.ActionItems {
			if it.Status == postmortem.ItemOpen {
				row.Open++
			}
		}
		d.List = append(d.List, row)
	}
	h.render(w, r, http.StatusOK, "postmortems", "Postmortems", d, "")
}

// writtenForm is the written fields as typed.
type writtenForm struct {
	Summary, Trigger, RootCause, ContributingFactors, WentWell, WentBadly, Lucky string
}

// writtenFields are the form's fields: name, label, help.
var writtenFields = []struct{ Name, Label, Help string }{
	{"summary", "Summary", "what happened, in a few sentences"},
	{"trigger", "Trigger", "what set it off"},
	{"root_cause", "Root cause", ""},
	{"contributing_factors", "Contributing factors", ""},
	{"went_well", "What went well", ""},
	{"went_badly", "What went badly", ""},
	{"lucky", "Where we got lucky", ""},
}

func (f writtenForm) value(name string) string {
	switch name {
	case "summary":
		return f.Summary
	case "trigger":
		return f.Trigger
	case "root_cause":
		return f.RootCause
	case "contributing_factors":
		return f.ContributingFactors
	case "went_well":
		return f.WentWell
	case "went_badly":
		return f.WentBadly
	}
	return f.Lucky
}

// writtenField is one field of the form with its value.
type writtenField struct{ Name, Label, Help, Value string }

func (f writtenForm) Fields() []writtenField {
	out := make([]writtenField, len(writtenFields))
	for i, w := range writtenFields {
		out[i] = writtenField{w.Name, w.Label, w.Help, f.value(w.Name)}
	}
	return out
}

// itemForm is an action item's form as typed.
type itemForm struct {
	Title, Owner, Due, Status, Link string
}

// postmortemData is a postmortem's page.
type postmortemData struct {
	P        postmortem.Postmortem
	Figures  []postmortem.Figure
	Steps    []postmortem.Step
	Sections []writtenField // the written fields, for reading
	// Form is the form Error belongs to: "edit", "workflow", "item-new",
	// or "item-N".
	Form         string
	Edit         writtenForm
	NewItem      itemForm
	ItemStatuses []postmortem.ItemStatus
}

func (h *Handler) consolePostmortem(w http.ResponseWriter, r *http.Request) {
	id, export, err := postmortemPath(r)
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	if export != "" {
		p, err := h.pm.Get(r.Context(), id)
		if err == nil {
			err = writeExport(w, p, export)
		}
		if err != nil {
			h.consoleError(w, r, err)
		}
		return
	}
	h.showPostmortem(w, r, http.StatusOK, postmortemData{}, "")
}

// showPostmortem renders a postmortem's page; d holds the forms' values
// when one failed (d.Form names it).
func (h *Handler) showPostmortem(w http.ResponseWriter, r *http.Request, status int, d postmortemData, errMsg string) {
	id, err := pathID(r, "postmortem")
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	if d.P, err = h.pm.Get(r.Context(), id); err != nil {
		h.consoleError(w, r, err)
		return
	}
	p := d.P
	d.Figures, d.Steps, d.ItemStatuses = postmortem.ImpactFigures(p.Impact), postmortem.Steps(p.Metrics), itemStatuses
	written := writtenForm{Summary: p.Summary, Trigger: p.Trigger, RootCause: p.RootCause, ContributingFactors: p.ContributingFactors,
		WentWell: p.WentWell, WentBadly: p.WentBadly, Lucky: p.Lucky}
	d.Sections = written.Fields()
	if d.Form != "edit" {
		d.Edit = written
	}
	h.render(w, r, status, "postmortem", fmt.Sprintf("Postmortem #%d: %s", p.ID, p.Title), d, errMsg)
}

// posted is a form field as a change: nil when the form did not send it.
func posted(r *http.Request, name string) *string {
	if _, ok := r.PostForm[name]; !ok {
		return nil
	}
	v := r.PostForm.Get(name)
	return &v
}

func (h *Handler) consoleEditPostmortem(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	v := r.PostForm.Get
	d := postmortemData{Form: "edit", Edit: writtenForm{Summary: v("summary"), Trigger: v("trigger"), RootCause: v("root_cause"),
		ContributingFactors: v("contributing_factors"), WentWell: v("went_well"), WentBadly: v("went_badly"), Lucky: v("lucky")}}
	id, err := pathID(r, "postmortem")
	if err == nil {
		_, err = h.pm.Update(r.Context(), principalFrom(r.Context()).Name, id, postmortem.Change{
			Summary: posted(r, "summary"), Trigger: posted(r, "trigger"), RootCause: posted(r, "root_cause"),
			ContributingFactors: posted(r, "contributing_factors"), WentWell: posted(r, "went_well"),
			WentBadly: posted(r, "went_badly"), Lucky: posted(r, "lucky")})
	}
	if err != nil {
		h.formFailed(w, r, err, func(status int, msg string) { h.showPostmortem(w, r, status, d, msg) })
		return
	}
	h.done(w, r, "/console/postmortems/"+r.PathValue("id"), "Postmortem saved.", "")
}

func (h *Handler) consoleSubmit(w http.ResponseWriter, r *http.Request) {
	h.consolePostmortemAction(w, r, h.pm.Submit, "Submitted for review.")
}

func (h *Handler) consolePublish(w http.ResponseWriter, r *http.Request) {
	h.consolePostmortemAction(w, r, h.pm.Publish, "Published: the status page shows it with the incident.")
}

func (h *Handler) consolePostmortemAction(w http.ResponseWriter, r *http.Request, act postmortemAction, flash string) {
	id, err := pathID(r, "postmortem")
	if err == nil {
		_, err = act(r.Context(), principalFrom(r.Context()).Name, id)
	}
	if err != nil {
		h.formFailed(w, r, err, func(status int, msg string) {
			h.showPostmortem(w, r, status, postmortemData{Form: "workflow"}, msg)
		})
		return
	}
	h.done(w, r, "/console/postmortems/"+r.PathValue("id"), flash, "")
}

// itemRequest is an action item form as an API request: fields the form
// did not send are absent.
func itemRequest(r *http.Request) ActionItemRequest {
	req := ActionItemRequest{Title: posted(r, "title"), Owner: posted(r, "owner"), Status: posted(r, "status"), Link: posted(r, "link")}
	if due := posted(r, "due"); due != nil {
		if strings.TrimSpace(*due) == "" {
			req.Due = []byte("null")
		} else {
			req.Due = []byte(fmt.Sprintf("%q", strings.TrimSpace(*due)))
		}
	}
	return req
}

func (h *Handler) consoleAddItem(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	v := r.PostForm.Get
	d := postmortemData{Form: "item-new", NewItem: itemForm{Title: v("title"), Owner: v("owner"), Due: v("due"), Link: v("link")}}
	id, err := pathID(r, "postmortem")
	if err == nil {
		_, err = h.addItem(r, id, itemRequest(r))
	}
	if err != nil {
		h.formFailed(w, r, err, func(status int, msg string) { h.showPostmortem(w, r, status, d, msg) })
		return
	}
	h.done(w, r, "/console/postmortems/"+r.PathValue("id"), "Action item added.", "")
}

func (h *Handler) consoleEditItem(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	d := postmortemData{Form: "item-" + r.PathValue("item")}
	id, err := pathID(r, "postmortem")
	var item int64
	if err == nil {
		item, err = itemID(r)
	}
	var c postmortem.ItemChange
	if err == nil {
		c, err = itemChange(itemRequest(r))
	}
	if err == nil {
		_, err = h.pm.UpdateActionItem(r.Context(), principalFrom(r.Context()).Name, id, item, c)
	}
	if err != nil {
		h.formFailed(w, r, err, func(status int, msg string) { h.showPostmortem(w, r, status, d, msg) })
		return
	}
	h.done(w, r, "/console/postmortems/"+r.PathValue("id"), "Action item saved.", "")
}

func (h *Handler) consoleRemoveItem(w http.ResponseWriter, r *http.Request) {
	d := postmortemData{Form: "item-" + r.PathValue("item")}
	id, err := pathID(r, "postmortem")
	var item int64
	if err == nil {
		item, err = itemID(r)
	}
	if err == nil {
		err = h.pm.RemoveActionItem(r.Context(), principalFrom(r.Context()).Name, id, item)
	}
	if err != nil {
		h.formFailed(w, r, err, func(status int, msg string) { h.showPostmortem(w, r, status, d, msg) })
		return
	}
	h.done(w, r, "/console/postmortems/"+r.PathValue("id"), "Action item removed.", "")
}

// consoleDraft drafts (or refreshes) the postmortem of a resolved incident
// and goes to it.
func (h *Handler) consoleDraft(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "incident")
	var p postmortem.Postmortem
	if err == nil {
		p, err = h.pm.Draft(r.Context(), id)
	}
	if err != nil {
		h.formFailed(w, r, err, func(status int, msg string) { h.showIncident(w, r, status, incidentData{Form: "postmortem"}, msg) })
		return
	}
	h.done(w, r, fmt.Sprintf("/console/postmortems/%d", p.ID), "Postmortem drafted from the incident's record.", "")
}

// incidentPostmortem is the postmortem of incident id for its page; nil
// when it has none (or postmortems are off).
func (h *Handler) incidentPostmortem(r *http.Request, id int64) *postmortem.Postmortem {
	if h.pm == nil {
		return nil
	}
	p, err := h.pm.ByIncident(r.Context(), id)
	if err != nil {
		if e := (*understudy.Error)(nil); !errors.As(err, &e) || e.Code != understudy.ENOTFOUND {
			h.log.Warn("admin: the incident's postmortem", "incident", id, "err", err)
		}
		return nil
	}
	return &p
}
