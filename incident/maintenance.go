package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/store"
)

// maintState is a maintenance window the scheduler follows.
type maintState struct {
	m         understudy.Maintenance
	lastProbe time.Time
	passed    map[string]bool
	warned    bool
}

// verifyProbeEvery paces the probes of a window being verified.
const verifyProbeEvery = 2 * time.Second

// verifyWarnAfter: probes still failing this long after a window's end
// raise an event for a person.
const verifyWarnAfter = 5 * time.Minute

// targetsOf are the targets a window drains: its targets and every target
// of the providers among its components.
func targetsOf(m understudy.Maintenance, top gateway.Topology) []string {
	out := slices.Clone(m.Targets)
	for _, c := range m.Components {
		if p, ok := strings.CutPrefix(c, "provider:"); ok {
			for _, id := range top.Providers[p] {
				if !slices.Contains(out, id) {
					out = append(out, id)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func (e *Engine) drain(m understudy.Maintenance, on bool) {
	for _, id := range targetsOf(m, e.gw.Topology()) {
		if err := e.gw.Drain(id, on); err != nil {
			e.log.Warn("maintenance drain", "target", id, "on", on, "err", err)
		}
	}
}

// maintained is what active windows silence: their targets and components
// (including the providers of their targets).
func (e *Engine) maintained() quietSet {
	q := quietSet{targets: map[string]bool{}, components: map[string]bool{}}
	for _, ms := range e.maint {
		if ms.m.Status != understudy.MaintenanceInProgress && ms.m.Status != understudy.MaintenanceVerifying {
			continue
		}
		for _, id := range targetsOf(ms.m, e.lastTop) {
			q.targets[id] = true
			if t, ok := e.lastTop.Targets[id]; ok {
				q.components[understudy.ProviderComponent(t.Provider)] = true
			}
		}
		for _, c := range ms.m.Components {
			q.components[c] = true
		}
	}
	return q
}

// maintenanceStep starts, ends and verifies windows.
func (e *Engine) maintenanceStep(ctx context.Context, now time.Time, top gateway.Topology) {
	ids := make([]int64, 0, len(e.maint))
	for id := range e.maint {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		ms := e.maint[id]
		m := &ms.m
		switch m.Status {
		case understudy.MaintenanceScheduled:
			if now.Before(m.StartsAt) {
				continue
			}
			m.Status, m.StartedAt = understudy.MaintenanceInProgress, now
			e.drain(*m, true)
			e.saveMaint(ctx, ms, now, understudy.EventMaintenanceStarted,
				fmt.Sprintf("maintenance %q started: %s drained, traffic goes to the other tiers", m.Title, strings.Join(targetsOf(*m, top), ", ")), false)
		case understudy.MaintenanceInProgress:
			if now.Before(m.EndsAt) {
				continue
			}
			m.Status = understudy.MaintenanceVerifying
			e.saveMaint(ctx, ms, now, understudy.EventMaintenanceVerify,
				fmt.Sprintf("maintenance %q window ended: probing before traffic returns", m.Title), false)
			fallthrough
		case understudy.MaintenanceVerifying:
			e.verify(ctx, ms, now, top)
		}
	}
}

// verify probes a window's targets; when every one has passed, traffic
// returns and the window completes.
func (e *Engine) verify(ctx context.Context, ms *maintState, now time.Time, top gateway.Topology) {
	if !ms.lastProbe.IsZero() && now.Sub(ms.lastProbe) < verifyProbeEvery {
		return
	}
	ms.lastProbe = now
	if ms.passed == nil {
		ms.passed = map[string]bool{}
	}
	var failing []string
	for _, id := range targetsOf(ms.m, top) {
		if ms.passed[id] {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := e.gw.ProbeTarget(pctx, id)
		cancel()
		if err != nil {
			failing = append(failing, id+": "+Redact(err.Error()))
			continue
		}
		ms.passed[id] = true
	}
	if len(failing) == 0 {
		e.drain(ms.m, false)
		ms.m.Status, ms.m.EndedAt = understudy.MaintenanceCompleted, now
		e.saveMaint(ctx, ms, now, understudy.EventMaintenanceDone,
			fmt.Sprintf("maintenance %q completed: probes passed, traffic is back", ms.m.Title), false)
		delete(e.maint, ms.m.ID)
		return
	}
	if !ms.warned && now.Sub(ms.m.EndsAt) >= verifyWarnAfter {
		ms.warned = true
		e.emit(understudy.Event{Type: understudy.EventMaintenanceVerify, Time: now, NeedsPerson: true,
			Message: fmt.Sprintf("maintenance %q ended %s ago but probes still fail: %s", ms.m.Title, now.Sub(ms.m.EndsAt).Round(time.Second), strings.Join(failing, "; "))})
	}
}

func (e *Engine) saveMaint(ctx context.Context, ms *maintState, now time.Time, evType, msg string, needsPerson bool) {
	ms.m.UpdatedAt = now
	ev := understudy.Event{Type: evType, Time: now, Author: Author, Message: msg, NeedsPerson: needsPerson,
		Details: map[string]any{"maintenance_id": ms.m.ID, "status": string(ms.m.Status)}}
	if err := e.st.SaveMaintenance(ctx, &ms.m, []understudy.Event{ev}); err != nil {
		e.log.Warn("save maintenance", "id", ms.m.ID, "err", err)
		return
	}
	e.published(0, ev)
	e.log.Info("event", "type", evType, "msg", msg)
}

// Maintenances lists maintenance windows.
func (e *Engine) Maintenances(ctx context.Context, f understudy.MaintenanceFilter) ([]understudy.Maintenance, error) {
	return e.st.Maintenances(ctx, f)
}

// ScheduleMaintenance announces a window. Its targets are drained at
// StartsAt; at EndsAt they are probed, and traffic returns once probes pass.
func (e *Engine) ScheduleMaintenance(ctx context.Context, author string, m understudy.Maintenance) (understudy.Maintenance, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clk.Now()
	top := e.gw.Topology()
	var problems []string
	if strings.TrimSpace(m.Title) == "" {
		problems = append(problems, "title is required")
	}
	if m.StartsAt.IsZero() || m.EndsAt.IsZero() {
		problems = append(problems, "starts_at and ends_at are required")
	} else if !m.EndsAt.After(m.StartsAt) {
		problems = append(problems, "ends_at must be after starts_at")
	} else if !m.EndsAt.After(now) {
		problems = append(problems, "ends_at is in the past")
	}
	if len(m.Targets) == 0 && len(m.Components) == 0 {
		problems = append(problems, "name at least one target (provider/model) or component")
	}
	for _, id := range m.Targets {
		if _, ok := top.Targets[id]; !ok {
			problems = append(problems, fmt.Sprintf("unknown target %q (known: %s)", id, strings.Join(top.Order, ", ")))
		}
	}
	if bad := e.unknownComponents(top, m.Components); bad != "" {
		problems = append(problems, bad)
	}
	if len(problems) > 0 {
		return understudy.Maintenance{}, understudy.Errorf(understudy.EINVALID, "%s", strings.Join(problems, "; "))
	}
	m.ID, m.Status, m.Author = 0, understudy.MaintenanceScheduled, author
	m.StartedAt, m.EndedAt, m.CreatedAt, m.UpdatedAt = time.Time{}, time.Time{}, now, now
	sort.Strings(m.Components)
	sort.Strings(m.Targets)
	ev := understudy.Event{Type: understudy.EventMaintenancePlanned, Time: now, Author: author,
		Message: fmt.Sprintf("maintenance %q scheduled from %s to %s", m.Title, m.StartsAt.UTC().Format(time.RFC3339), m.EndsAt.UTC().Format(time.RFC3339))}
	if err := e.st.CreateMaintenance(ctx, &m, []understudy.Event{ev}); err != nil {
		return understudy.Maintenance{}, err
	}
	e.published(0, ev)
	e.maint[m.ID] = &maintState{m: m}
	return m, nil
}

// CancelMaintenance cancels a scheduled window, or ends one in progress
// early (it then goes through verification as at its normal end).
func (e *Engine) CancelMaintenance(ctx context.Context, author string, id int64) (understudy.Maintenance, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clk.Now()
	ms, ok := e.maint[id]
	if !ok {
		m, err := e.st.Maintenance(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return understudy.Maintenance{}, understudy.Errorf(understudy.ENOTFOUND, "no maintenance %d", id)
		}
		if err != nil {
			return understudy.Maintenance{}, err
		}
		if m.Status.Done() {
			return understudy.Maintenance{}, understudy.Errorf(understudy.ECONFLICT, "maintenance %d is already %s", id, m.Status)
		}
		ms = &maintState{m: m}
		e.maint[id] = ms
	}
	switch ms.m.Status {
	case understudy.MaintenanceScheduled:
		ms.m.Status, ms.m.EndedAt, ms.m.Author = understudy.MaintenanceCanceled, now, author
		ms.m.UpdatedAt = now
		ev := understudy.Event{Type: understudy.EventMaintenanceCanceled, Time: now, Author: author, Message: fmt.Sprintf("maintenance %q canceled", ms.m.Title)}
		if err := e.st.SaveMaintenance(ctx, &ms.m, []understudy.Event{ev}); err != nil {
			return understudy.Maintenance{}, err
		}
		e.published(0, ev)
		delete(e.maint, id)
	case understudy.MaintenanceInProgress:
		ms.m.EndsAt, ms.m.Status, ms.m.UpdatedAt = now, understudy.MaintenanceVerifying, now
		ev := understudy.Event{Type: understudy.EventMaintenanceVerify, Time: now, Author: author, Message: fmt.Sprintf("maintenance %q ended early: probing before traffic returns", ms.m.Title)}
		if err := e.st.SaveMaintenance(ctx, &ms.m, []understudy.Event{ev}); err != nil {
			return understudy.Maintenance{}, err
		}
		e.published(0, ev)
	default:
		return understudy.Maintenance{}, understudy.Errorf(understudy.ECONFLICT, "maintenance %d is %s: it completes when its probes pass", id, ms.m.Status)
	}
	return ms.m, nil
}

// unknownComponents names the components that are neither a route nor a
// provider; "" when all are known.
func (e *Engine) unknownComponents(top gateway.Topology, cs []string) string {
	known := map[string]bool{}
	var list []string
	for _, r := range top.Routes {
		known[r.Name] = true
		list = append(list, r.Name)
	}
	var provs []string
	for p := range top.Providers {
		provs = append(provs, understudy.ProviderComponent(p))
	}
	sort.Strings(provs)
	for _, p := range provs {
		known[p] = true
	}
	list = append(list, provs...)
	var bad []string
	for _, c := range cs {
		if !known[c] {
			bad = append(bad, fmt.Sprintf("%q", c))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprintf("unknown component %s (known: %s)", strings.Join(bad, ", "), strings.Join(list, ", "))
}
