package postmortem

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/understudy/understudy"
)

// Draft writes the postmortem of resolved incident incidentID: it creates
// it the first time, refreshes its measured parts while it is a draft, and
// returns it as it is once in review or published. An open incident, or
// one merged into another (whose postmortem tells its story), has none:
// ECONFLICT.
func (s *Service) Draft(ctx context.Context, incidentID int64) (Postmortem, error) {
	if s.src == nil {
		return Postmortem{}, errors.New("postmortem: no Source to draft from")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	existing, err := s.st.PostmortemByIncident(ctx, incidentID)
	switch {
	case err == nil && existing.Status != StatusDraft:
		return existing, nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return Postmortem{}, err
	}
	inc, err := s.src.Incident(ctx, incidentID)
	if err != nil {
		return Postmortem{}, err
	}
	if inc.Status.Open() {
		return Postmortem{}, understudy.Errorf(understudy.ECONFLICT, "incident %d is %s: its postmortem is drafted once it is resolved", incidentID, inc.Status)
	}
	if inc.MergedInto != 0 {
		return Postmortem{}, understudy.Errorf(understudy.ECONFLICT, "incident %d was merged into incident %d: that one's postmortem covers it", incidentID, inc.MergedInto)
	}
	events, err := s.src.Timeline(ctx, incidentID)
	if err != nil {
		return Postmortem{}, err
	}
	if s.flush != nil {
		if err := s.flush(ctx); err != nil {
			s.log.Warn("postmortem: flushing the recorder before measuring failed; figures may miss the last seconds", "incident", incidentID, "err", err)
		}
	}
	impact, err := s.measure(ctx, inc)
	if err != nil {
		return Postmortem{}, err
	}
	p := existing
	fresh := p.ID == 0
	p.IncidentID = incidentID
	p.Title, p.Severity, p.Cause, p.Components = inc.Title, inc.Severity, inc.Cause, slices.Clone(inc.Components)
	p.Impact, p.Metrics, p.Timeline = impact, metricsOf(inc, events), timelineOf(events, inc.Updates)
	if p.Summary == "" {
		p.Summary = summaryOf(inc, impact)
	}
	now := s.clk.Now().UTC()
	p.UpdatedAt = now
	if fresh {
		p.Status, p.CreatedAt, p.Author = StatusDraft, now, SystemAuthor
		err = s.st.CreatePostmortem(ctx, &p)
		if errors.Is(err, ErrExists) {
			// Another replica drafted it meanwhile: keep theirs.
			return s.st.PostmortemByIncident(ctx, incidentID)
		}
	} else {
		err = s.st.SavePostmortem(ctx, &p)
	}
	if err != nil {
		return Postmortem{}, fmt.Errorf("postmortem: draft for incident %d: %w", incidentID, err)
	}
	if s.changed != nil {
		s.changed(p)
	}
	s.log.Info("postmortem drafted", "postmortem", p.ID, "incident", incidentID, "refreshed", !fresh,
		"requests", p.Impact.Requests, "failed", p.Impact.Failed)
	return p, nil
}

// Routes of an incident: its route components and the routes in its
// evidence (those of the failing targets), sorted.
func Routes(inc understudy.Incident) []string {
	var out []string
	for _, c := range inc.Components {
		if !strings.HasPrefix(c, "provider:") {
			out = append(out, c)
		}
	}
	out = append(out, inc.Evidence.Routes...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Window is the incident's measured window: the whole minutes from the
// minute of StartedAt through the minute of ResolvedAt.
func Window(inc understudy.Incident) (from, to time.Time) {
	return inc.StartedAt.UTC().Truncate(time.Minute), inc.ResolvedAt.UTC().Truncate(time.Minute).Add(time.Minute)
}

func (s *Service) measure(ctx context.Context, inc understudy.Incident) (Impact, error) {
	from, to := Window(inc)
	out := Impact{From: from, To: to, Routes: Routes(inc), Duration: max(inc.ResolvedAt.Sub(inc.StartedAt), 0)}
	if len(out.Routes) == 0 {
		return out, nil
	}
	tr, err := s.st.MeasureImpact(ctx, from, to, out.Routes)
	if err != nil {
		return Impact{}, fmt.Errorf("postmortem: measure incident %d: %w", inc.ID, err)
	}
	out.Traffic = tr
	return out, nil
}

// person reports whether an event's author is a person: neither Understudy
// itself nor the gateway (no author).
func person(author string) bool { return author != "" && author != SystemAuthor }

// metricsOf computes the detection and response times (see the package
// documentation).
func metricsOf(inc understudy.Incident, events []understudy.Event) Metrics {
	m := Metrics{Detector: inc.Detector, StartedAt: inc.StartedAt, DetectedAt: inc.DetectedAt, ResolvedAt: inc.ResolvedAt}
	for _, ev := range events {
		if ev.Type == understudy.EventIncidentOpened && m.OpenedBy == "" {
			m.OpenedBy = ev.Author
		}
		if m.AcknowledgedAt.IsZero() && person(ev.Author) {
			m.AcknowledgedAt, m.AcknowledgedBy = ev.Time, ev.Author
		}
	}
	for _, u := range inc.Updates {
		if m.FirstUpdateAt.IsZero() || u.CreatedAt.Before(m.FirstUpdateAt) {
			m.FirstUpdateAt = u.CreatedAt
		}
		if u.Status == understudy.IncidentMonitoring && (m.MitigatedAt.IsZero() || u.CreatedAt.Before(m.MitigatedAt)) {
			m.MitigatedAt = u.CreatedAt
		}
	}
	if m.MitigatedAt.IsZero() {
		m.MitigatedAt = inc.ResolvedAt
	}
	since := func(at, from time.Time) time.Duration {
		if at.IsZero() || from.IsZero() {
			return 0
		}
		return max(at.Sub(from), 0)
	}
	m.TimeToDetect = since(m.DetectedAt, m.StartedAt)
	m.TimeToAcknowledge = since(m.AcknowledgedAt, m.DetectedAt)
	m.TimeToFirstUpdate = since(m.FirstUpdateAt, m.StartedAt)
	m.TimeToMitigate = since(m.MitigatedAt, m.DetectedAt)
	m.TimeToResolve = since(m.ResolvedAt, m.DetectedAt)
	return m
}

// timelineOf interleaves events and public updates in time order; at the
// same instant events come first, each list keeping its own order.
func timelineOf(events []understudy.Event, updates []understudy.IncidentUpdate) []TimelineEntry {
	out := make([]TimelineEntry, 0, len(events)+len(updates))
	for _, ev := range events {
		out = append(out, TimelineEntry{Time: ev.Time.UTC(), Kind: EntryEvent, Type: ev.Type, Author: ev.Author, Text: ev.Message})
	}
	for _, u := range updates {
		out = append(out, TimelineEntry{Time: u.CreatedAt.UTC(), Kind: EntryUpdate, Type: string(u.Status), Author: u.Author, Text: u.Message})
	}
	slices.SortStableFunc(out, func(a, b TimelineEntry) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)))
	})
	return out
}

func kindRank(k string) int {
	if k == EntryEvent {
		return 0
	}
	return 1
}

// summaryOf is the first summary: what happened, in one paragraph, from
// the record; people rewrite it.
func summaryOf(inc understudy.Incident, im Impact) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, cause %s) lasted %s, from %s to %s.", inc.Title, inc.Severity, inc.Cause,
		FormatDuration(im.Duration), inc.StartedAt.UTC().Format("2006-01-02 15:04 UTC"), inc.ResolvedAt.UTC().Format("2006-01-02 15:04 UTC"))
	if len(im.Routes) > 0 {
		fmt.Fprintf(&b, " On %s, %d requests were answered: %d failed as users saw them, %d were served by failover, %d served degraded and %d handed off to a person",
			strings.Join(im.Routes, ", "), im.Requests, im.Failed, im.ServedByFailover, im.DegradedTotal(), im.HandedOff)
		if im.UsersAffected > 0 {
			fmt.Fprintf(&b, "; %d end users saw a failed or degraded answer", im.UsersAffected)
		}
		b.WriteString(".")
	}
	return b.String()
}

// FormatDuration writes d for people, to the second: "1h2m3s", "45s", "0s".
func FormatDuration(d time.Duration) string {
	return d.Round(time.Second).String()
}
