package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
)

// newIncidentForm is the new incident form as typed.
type newIncidentForm struct {
	Title, Severity, Cause, Status, Components, Message, ETA string
	Choices                                                  choices
}

func (h *Handler) consoleNewIncident(w http.ResponseWriter, r *http.Request) {
	f := newIncidentForm{Severity: string(understudy.SeverityMajor), Cause: string(understudy.CauseUnknown),
		Status: string(understudy.IncidentInvestigating), Choices: formChoices}
	h.render(w, r, http.StatusOK, "incident_new", "New incident", f, "")
}

func (h *Handler) consoleCreateIncident(w http.ResponseWriter, r *http.Request) {
	v := r.PostFormValue
	f := newIncidentForm{Title: v("title"), Severity: v("severity"), Cause: v("cause"), Status: v("status"),
		Components: v("components"), Message: v("message"), ETA: v("eta"), Choices: formChoices}
	req := NewIncidentRequest{Title: strings.TrimSpace(f.Title), Severity: f.Severity, Cause: f.Cause, Status: f.Status,
		Components: splitList(f.Components), Message: strings.TrimSpace(f.Message)}
	inc, err := h.withETA(f.ETA, func(eta string) (understudy.Incident, error) {
		req.ETA = eta
		return h.createIncident(r.Context(), req)
	})
	if err != nil {
		h.formFailed(w, r, err, func(status int, msg string) {
			h.render(w, r, status, "incident_new", "New incident", f, msg)
		})
		return
	}
	h.done(w, r, fmt.Sprintf("/console/incidents/%d", inc.ID), fmt.Sprintf("Incident #%d opened.", inc.ID), "")
}

// withETA reads a typed ETA (RFC 3339 or a duration from now; empty is
// none) and passes it on in RFC 3339.
func (h *Handler) withETA(typed string, next func(eta string) (understudy.Incident, error)) (understudy.Incident, error) {
	typed = strings.TrimSpace(typed)
	if typed == "" {
		return next("")
	}
	t, err := ParseTime(typed, h.clock.Now())
	if err != nil {
		return understudy.Incident{}, understudy.Errorf(understudy.EINVALID, "ETA: %v", err)
	}
	return next(t.UTC().Format(time.RFC3339))
}

func (h *Handler) consoleUpdate(w http.ResponseWriter, r *http.Request) {
	v := r.PostFormValue
	d := incidentData{Form: "update", Update: updateForm{Message: v("message"), Status: v("status"),
		Severity: v("severity"), Components: v("components"), ETA: v("eta")}}
	err := h.consoleUpdateIncident(r, d.Update)
	if err != nil {
		h.formFailed(w, r, err, func(status int, msg string) { h.showIncident(w, r, status, d, msg) })
		return
	}
	h.done(w, r, "/console/incidents/"+r.PathValue("id"), "Update posted.", "")
}

func (h *Handler) consoleUpdateIncident(r *http.Request, f updateForm) error {
	id, err := pathID(r, "incident")
	if err != nil {
		return err
	}
	req := IncidentUpdateRequest{Message: strings.TrimSpace(f.Message), Status: f.Status, Severity: f.Severity}
	if strings.TrimSpace(f.Components) != "" {
		req.Components = splitList(f.Components)
	}
	switch eta := strings.TrimSpace(f.ETA); eta {
	case "":
	case "none":
		req.ETA = json.RawMessage("null")
	default:
		t, err := ParseTime(eta, h.clock.Now())
		if err != nil {
			return understudy.Errorf(understudy.EINVALID, "ETA: %v", err)
		}
		req.ETA, _ = json.Marshal(t.UTC().Format(time.RFC3339))
	}
	c, err := incidentChange(req)
	if err != nil {
		return err
	}
	_, err = h.svc.UpdateIncident(r.Context(), principalFrom(r.Context()).Name, id, c)
	return err
}

func (h *Handler) consoleResolve(w http.ResponseWriter, r *http.Request) {
	h.consoleMessageAction(w, r, "resolve", "Incident resolved.", h.svc.ResolveIncident)
}

func (h *Handler) consoleReopen(w http.ResponseWriter, r *http.Request) {
	h.consoleMessageAction(w, r, "reopen", "Incident reopened.", h.svc.ReopenIncident)
}

func (h *Handler) consoleMessageAction(w http.ResponseWriter, r *http.Request, form, flash string, act messageAction) {
	d := incidentData{Form: form, Message: r.PostFormValue("message")}
	id, err := pathID(r, "incident")
	if err == nil {
		_, err = act(r.Context(), principalFrom(r.Context()).Name, id, strings.TrimSpace(d.Message))
	}
	if err != nil {
		h.formFailed(w, r, err, func(status int, msg string) { h.showIncident(w, r, status, d, msg) })
		return
	}
	h.done(w, r, "/console/incidents/"+r.PathValue("id"), flash, "")
}

func (h *Handler) consoleMerge(w http.ResponseWriter, r *http.Request) {
	d := incidentData{Form: "merge", Into: r.PostFormValue("into")}
	into, err := h.mergeForm(r, d.Into)
	if err != nil {
		h.formFailed(w, r, err, func(status int, msg string) { h.showIncident(w, r, status, d, msg) })
		return
	}
	h.done(w, r, fmt.Sprintf("/console/incidents/%d", into.ID), fmt.Sprintf("Incident #%s merged into this one.", r.PathValue("id")), "")
}

func (h *Handler) mergeForm(r *http.Request, typed string) (understudy.Incident, error) {
	id, err := pathID(r, "incident")
	if err != nil {
		return understudy.Incident{}, err
	}
	into, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(typed), "#"), 10, 64)
	if err != nil || into <= 0 {
		return understudy.Incident{}, understudy.Errorf(understudy.EINVALID, "merge into: %q is not an incident number", typed)
	}
	return h.svc.MergeIncident(r.Context(), principalFrom(r.Context()).Name, id, into)
}

// maintenanceForm is the schedule form as typed.
type maintenanceForm struct {
	Title, Message, Components, Targets, Starts, Ends string
}

type maintenancesData struct {
	List []understudy.Maintenance
	Form maintenanceForm
}

func (h *Handler) consoleMaintenances(w http.ResponseWriter, r *http.Request) {
	h.showMaintenances(w, r, http.StatusOK, maintenanceForm{Starts: "1h", Ends: "1h"}, "")
}

func (h *Handler) showMaintenances(w http.ResponseWriter, r *http.Request, status int, f maintenanceForm, errMsg string) {
	list, err := h.svc.Maintenances(r.Context(), understudy.MaintenanceFilter{Limit: 100})
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	h.render(w, r, status, "maintenances", "Maintenance", maintenancesData{List: list, Form: f}, errMsg)
}

func (h *Handler) consoleSchedule(w http.ResponseWriter, r *http.Request) {
	v := r.PostFormValue
	f := maintenanceForm{Title: v("title"), Message: v("message"), Components: v("components"),
		Targets: v("targets"), Starts: v("starts"), Ends: v("ends")}
	m, err := h.scheduleForm(r, f)
	if err != nil {
		h.formFailed(w, r, err, func(status int, msg string) { h.showMaintenances(w, r, status, f, msg) })
		return
	}
	h.done(w, r, "/console/maintenances", fmt.Sprintf("Maintenance #%d scheduled.", m.ID), "")
}

// scheduleForm reads the window: starts is a time or a duration from now,
// ends a time or a duration from the start.
func (h *Handler) scheduleForm(r *http.Request, f maintenanceForm) (understudy.Maintenance, error) {
	starts, err := ParseTime(f.Starts, h.clock.Now())
	if err != nil {
		return understudy.Maintenance{}, understudy.Errorf(understudy.EINVALID, "starts: %v", err)
	}
	ends, err := ParseTime(f.Ends, starts)
	if err != nil {
		return understudy.Maintenance{}, understudy.Errorf(understudy.EINVALID, "ends: %v", err)
	}
	return h.schedule(r.Context(), MaintenanceRequest{Title: strings.TrimSpace(f.Title), Message: strings.TrimSpace(f.Message),
		Components: splitList(f.Components), Targets: splitList(f.Targets),
		StartsAt: starts.UTC().Format(time.RFC3339), EndsAt: ends.UTC().Format(time.RFC3339)})
}

func (h *Handler) consoleCancel(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "maintenance")
	if err == nil {
		_, err = h.svc.CancelMaintenance(r.Context(), principalFrom(r.Context()).Name, id)
	}
	if err != nil {
		h.formFailed(w, r, err, func(status int, msg string) {
			h.showMaintenances(w, r, status, maintenanceForm{Starts: "1h", Ends: "1h"}, msg)
		})
		return
	}
	h.done(w, r, "/console/maintenances", fmt.Sprintf("Maintenance #%d canceled.", id), "")
}

type tokensData struct {
	List        []understudy.Token
	Name, Scope string
	Choices     choices
}

func (h *Handler) consoleTokens(w http.ResponseWriter, r *http.Request) {
	h.showTokens(w, r, http.StatusOK, tokensData{Scope: string(understudy.ScopeOperator)}, "")
}

func (h *Handler) showTokens(w http.ResponseWriter, r *http.Request, status int, d tokensData, errMsg string) {
	list, err := h.listTokens(r.Context())
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	d.List, d.Choices = list, formChoices
	h.render(w, r, status, "tokens", "Admin tokens", d, errMsg)
}

func (h *Handler) consoleCreateToken(w http.ResponseWriter, r *http.Request) {
	d := tokensData{Name: strings.TrimSpace(r.PostFormValue("name")), Scope: r.PostFormValue("scope")}
	t, raw, err := h.createToken(r.Context(), d.Name, d.Scope)
	if err != nil {
		h.formFailed(w, r, err, func(status int, msg string) { h.showTokens(w, r, status, d, msg) })
		return
	}
	h.done(w, r, "/console/tokens", fmt.Sprintf("Token %q created with %s scope. Copy it now: it is not shown again.", t.Name, t.Scope), raw)
}

func (h *Handler) consoleRevokeToken(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := h.revokeToken(r.Context(), name); err != nil {
		h.formFailed(w, r, err, func(status int, msg string) {
			h.showTokens(w, r, status, tokensData{Scope: string(understudy.ScopeOperator)}, msg)
		})
		return
	}
	h.done(w, r, "/console/tokens", fmt.Sprintf("Token %q revoked.", name), "")
}
