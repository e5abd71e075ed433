package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/notify"
)

// relay turns the incident engine's events into notifications, off the
// engine's goroutine: a bounded queue, drained by Run.
type relay struct {
	ch     chan relayed
	src    relaySource
	notify func(context.Context, notify.Notification) error
	// again queues a notification that may have been queued already (see
	// catchUp); default notify.
	again   func(context.Context, notify.Notification) error
	pageURL func() string
	log     *slog.Logger
}

type relayed struct {
	id int64
	ev understudy.Event
}

// relaySource reads what the notifications carry; *incident.Engine.
type relaySource interface {
	Incident(ctx context.Context, id int64) (understudy.Incident, error)
	Incidents(ctx context.Context, f understudy.IncidentFilter) ([]understudy.Incident, error)
	Components(ctx context.Context) ([]understudy.Component, error)
	Maintenances(ctx context.Context, f understudy.MaintenanceFilter) ([]understudy.Maintenance, error)
}

func newRelay(src relaySource, notify func(context.Context, notify.Notification) error, pageURL func() string, log *slog.Logger) *relay {
	return &relay{ch: make(chan relayed, 1024), src: src, notify: notify, pageURL: pageURL, log: log}
}

// OnEvent queues an event; when the queue is full the event is dropped and
// logged (a later update carries the state anyway).
func (r *relay) OnEvent(id int64, ev understudy.Event) {
	select {
	case r.ch <- relayed{id, ev}:
	default:
		r.log.Warn("notifications: queue full, event dropped", "type", ev.Type, "incident", id)
	}
}

// Run turns queued events into notifications until ctx ends.
func (r *relay) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-r.ch:
			n, ok, err := r.notification(ctx, e.id, e.ev)
			if err == nil && ok {
				err = r.notify(ctx, n)
			}
			if err != nil && ctx.Err() == nil {
				r.log.Warn("notifications", "event", e.ev.Type, "incident", e.id, "err", err)
			}
		}
	}
}

// notification is what subscribers hear of ev: the incident's latest public
// update (keyed by its id, so each update is sent once whatever events
// announce it), a component's change, or a maintenance step.
func (r *relay) notification(ctx context.Context, id int64, ev understudy.Event) (notify.Notification, bool, error) {
	page := strings.TrimRight(r.pageURL(), "/")
	switch {
	case id != 0 && ev.Type != understudy.EventIncidentReminder:
		inc, err := r.src.Incident(ctx, id)
		if err != nil {
			return notify.Notification{}, false, err
		}
		if len(inc.Updates) == 0 {
			return notify.Notification{}, false, nil
		}
		return updateNotification(inc, inc.Updates[len(inc.Updates)-1], page), true, nil
	case ev.Type == understudy.EventComponentChanged:
		name, _ := ev.Details["component"].(string)
		from, _ := ev.Details["from"].(string)
		cs, err := r.src.Components(ctx)
		if err != nil {
			return notify.Notification{}, false, err
		}
		for _, c := range cs {
			if c.Name != name {
				continue
			}
			c := c
			return notify.Notification{ID: fmt.Sprintf("component:%s:%d", name, ev.Time.UnixMicro()), Kind: notify.NoteComponent,
				Time: ev.Time, Component: &c, OldStatus: understudy.ComponentStatus(from), Components: []string{name}, URL: page}, true, nil
		}
		return notify.Notification{}, false, nil
	case strings.HasPrefix(ev.Type, "maintenance."):
		ms, err := r.src.Maintenances(ctx, understudy.MaintenanceFilter{Limit: 1000})
		if err != nil {
			return notify.Notification{}, false, err
		}
		mid, _ := ev.Details["maintenance_id"].(int64)
		for _, m := range ms {
			if m.ID != mid && !(mid == 0 && strings.Contains(ev.Message, fmt.Sprintf("%q", m.Title))) {
				continue
			}
			m := m
			comps := append([]string(nil), m.Components...)
			for _, t := range m.Targets {
				if p, _, ok := strings.Cut(t, "/"); ok {
					comps = append(comps, understudy.ProviderComponent(p))
				}
			}
			return notify.Notification{ID: fmt.Sprintf("maintenance:%d:%s", m.ID, m.Status), Kind: notify.NoteMaintenance,
				Time: ev.Time, Maintenance: &m, Components: comps, URL: page}, true, nil
		}
	}
	return notify.Notification{}, false, nil
}

// updateNotification is the notification of incident update u, keyed by
// the update.
func updateNotification(inc understudy.Incident, u understudy.IncidentUpdate, page string) notify.Notification {
	n := notify.Notification{ID: "incident-update:" + strconv.FormatInt(u.ID, 10), Kind: notify.NoteIncident, Time: u.CreatedAt,
		Incident: &inc, Update: &u, Components: inc.Components}
	if page != "" {
		n.URL = page + "/incidents/" + strconv.FormatInt(inc.ID, 10)
	}
	return n
}

// catchUpWindow is how far back the leader looks for public updates whose
// notification was never queued.
const catchUpWindow = 10 * time.Minute

// catchUp queues the notifications of the public updates posted since
// since. A notification keyed by its update goes to each subscriber once
// whoever queues it, so this only adds those that a replica which died
// between storing an update and queueing its notification never queued;
// the leader runs it when it takes over and every half minute.
func (r *relay) catchUp(ctx context.Context, since time.Time) (int, error) {
	incs, err := r.src.Incidents(ctx, understudy.IncidentFilter{Limit: 100})
	if err != nil {
		return 0, err
	}
	page := strings.TrimRight(r.pageURL(), "/")
	n := 0
	for _, inc := range incs {
		for _, u := range inc.Updates {
			if u.CreatedAt.Before(since) {
				continue
			}
			again := r.again
			if again == nil {
				again = r.notify
			}
			if err := again(ctx, updateNotification(inc, u, page)); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// runCatchUp runs catchUp now and every half minute until ctx ends.
func (r *relay) runCatchUp(ctx context.Context, now func() time.Time) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		if _, err := r.catchUp(ctx, now().Add(-catchUpWindow)); err != nil && ctx.Err() == nil {
			r.log.Warn("notifications: catching up", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
