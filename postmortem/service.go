package postmortem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy"
)

// Options configure a Service.
type Options struct {
	// Store keeps the postmortems and measures traffic. Required.
	Store Store
	// Source gives incidents and their timelines. Required to draft.
	Source Source
	// Flush, when set, is called before measuring, so that outcomes the
	// recorder still holds in memory count (serve passes the recorder's
	// Flush). Nil: only what is stored counts.
	Flush func(ctx context.Context) error
	// Clock stamps changes. Nil: the real clock.
	Clock clockwork.Clock
	// Logger gets drafts and internal errors. Nil: discard.
	Logger *slog.Logger
	// DraftTimeout bounds one queued draft. Zero: 30 s.
	DraftTimeout time.Duration
	// OnChange, when set, is called with the postmortem as it is after
	// each change (draft, edit, review step, action item), on the caller's
	// goroutine, with the service's lock held: it must not block nor call
	// the service (e.g. the lessons library indexes it).
	OnChange func(Postmortem)
}

// Service drafts, edits, reviews and publishes postmortems. Its changes
// are serialised in the process (one replica's edits never interleave);
// across replicas the last write of a postmortem wins.
type Service struct {
	st      Store
	src     Source
	flush   func(context.Context) error
	clk     clockwork.Clock
	log     *slog.Logger
	timeout time.Duration
	changed func(Postmortem)

	mu sync.Mutex // every change

	qmu     sync.Mutex
	pending map[int64]bool // incidents waiting for a draft
	wake    chan struct{}
}

// New returns a service; call Run for drafts queued by OnIncidentEvent.
func New(o Options) *Service {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DraftTimeout <= 0 {
		o.DraftTimeout = 30 * time.Second
	}
	return &Service{st: o.Store, src: o.Source, flush: o.Flush, clk: o.Clock, log: o.Logger, timeout: o.DraftTimeout,
		changed: o.OnChange, pending: map[int64]bool{}, wake: make(chan struct{}, 1)}
}

// OnIncidentEvent reacts to the incident engine's events: a resolution
// queues a draft of the incident's postmortem. It never blocks (the engine
// calls it on its own goroutine); Run writes the drafts.
func (s *Service) OnIncidentEvent(incidentID int64, ev understudy.Event) {
	if incidentID == 0 || ev.Type != understudy.EventIncidentResolved {
		return
	}
	s.qmu.Lock()
	s.pending[incidentID] = true
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run writes queued drafts until ctx ends.
func (s *Service) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		s.qmu.Lock()
		ids := make([]int64, 0, len(s.pending))
		for id := range s.pending {
			ids = append(ids, id)
		}
		clear(s.pending)
		s.qmu.Unlock()
		slices.Sort(ids)
		for _, id := range ids {
			dctx, cancel := context.WithTimeout(ctx, s.timeout)
			_, err := s.Draft(dctx, id)
			cancel()
			var e *understudy.Error
			switch {
			case errors.As(err, &e) && e.Code == understudy.ECONFLICT:
				s.log.Debug("no postmortem drafted", "incident", id, "why", e.Message)
			case err != nil && ctx.Err() == nil:
				s.log.Warn("postmortem draft failed", "incident", id, "err", err)
			}
		}
	}
}

// notFound maps the store's not-found to the application error.
func notFound(err error, what string, id int64) error {
	if errors.Is(err, ErrNotFound) {
		return understudy.Errorf(understudy.ENOTFOUND, "no %s %d", what, id)
	}
	return err
}

// Get returns postmortem id with its action items.
func (s *Service) Get(ctx context.Context, id int64) (Postmortem, error) {
	p, err := s.st.Postmortem(ctx, id)
	return p, notFound(err, "postmortem", id)
}

// ByIncident returns the postmortem of incident incidentID.
func (s *Service) ByIncident(ctx context.Context, incidentID int64) (Postmortem, error) {
	p, err := s.st.PostmortemByIncident(ctx, incidentID)
	if errors.Is(err, ErrNotFound) {
		return p, understudy.Errorf(understudy.ENOTFOUND, "incident %d has no postmortem", incidentID)
	}
	return p, err
}

// List lists postmortems, newest first.
func (s *Service) List(ctx context.Context, f Filter) ([]Postmortem, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, understudy.Errorf(understudy.EINVALID, "status %q is not one of draft, in_review, published", f.Status)
	}
	return s.st.Postmortems(ctx, f)
}

// Published returns the published postmortems of incidentIDs that have
// one, by incident id: what the status page shows.
func (s *Service) Published(ctx context.Context, incidentIDs []int64) (map[int64]Postmortem, error) {
	if len(incidentIDs) == 0 {
		return map[int64]Postmortem{}, nil
	}
	return s.st.PublishedPostmortems(ctx, incidentIDs)
}

// OverdueActionItems lists the open action items past their due date now.
func (s *Service) OverdueActionItems(ctx context.Context) ([]OverdueItem, error) {
	return s.st.OverdueActionItems(ctx, s.clk.Now())
}

// editable loads postmortem id and checks that it takes edits.
func (s *Service) editable(ctx context.Context, id int64) (Postmortem, error) {
	p, err := s.Get(ctx, id)
	if err != nil {
		return p, err
	}
	if !p.Status.Editable() {
		return p, understudy.Errorf(understudy.ECONFLICT, "postmortem %d is published: it is read-only (only its action items' status may change)", id)
	}
	return p, nil
}

// maxText bounds each written field.
const maxText = 64 << 10

// Update applies a person's edit of the written fields; only while the
// postmortem is a draft or in review.
func (s *Service) Update(ctx context.Context, author string, id int64, c Change) (Postmortem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.editable(ctx, id)
	if err != nil {
		return p, err
	}
	for _, f := range []struct {
		name string
		v    *string
		dst  *string
	}{
		{"summary", c.Summary, &p.Summary}, {"trigger", c.Trigger, &p.Trigger}, {"root_cause", c.RootCause, &p.RootCause},
		{"contributing_factors", c.ContributingFactors, &p.ContributingFactors}, {"went_well", c.WentWell, &p.WentWell},
		{"went_badly", c.WentBadly, &p.WentBadly}, {"lucky", c.Lucky, &p.Lucky},
	} {
		if f.v == nil {
			continue
		}
		if len(*f.v) > maxText {
			return p, understudy.Errorf(understudy.EINVALID, "%s is over %d bytes", f.name, maxText)
		}
		*f.dst = strings.TrimSpace(*f.v)
	}
	return p, s.save(ctx, &p, author)
}

// Submit moves a draft to review.
func (s *Service) Submit(ctx context.Context, author string, id int64) (Postmortem, error) {
	return s.move(ctx, author, id, StatusDraft, StatusInReview)
}

// Publish publishes a postmortem in review: it becomes read-only and is
// attached to the incident on the status page.
func (s *Service) Publish(ctx context.Context, author string, id int64) (Postmortem, error) {
	return s.move(ctx, author, id, StatusInReview, StatusPublished)
}

func (s *Service) move(ctx context.Context, author string, id int64, from, to Status) (Postmortem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.Get(ctx, id)
	if err != nil {
		return p, err
	}
	if p.Status != from {
		return p, understudy.Errorf(understudy.ECONFLICT, "postmortem %d is %s: only a postmortem %s can become %s",
			id, words(p.Status), words(from), words(to))
	}
	p.Status = to
	if to == StatusPublished {
		p.PublishedAt = s.clk.Now().UTC()
	}
	if err := s.save(ctx, &p, author); err != nil {
		return Postmortem{}, err
	}
	s.log.Info("postmortem "+string(to), "postmortem", p.ID, "incident", p.IncidentID, "by", author)
	return p, nil
}

func words(s Status) string {
	if s == StatusInReview {
		return "in review"
	}
	return string(s)
}

// save stamps p with author and now, writes it and tells OnChange.
func (s *Service) save(ctx context.Context, p *Postmortem, author string) error {
	p.UpdatedAt, p.Author = s.clk.Now().UTC(), author
	if err := s.st.SavePostmortem(ctx, p); err != nil {
		return notFound(err, "postmortem", p.ID)
	}
	s.notify(ctx, *p)
	return nil
}

// notify tells OnChange about p, read again first (its action items may
// have changed).
func (s *Service) notify(ctx context.Context, p Postmortem) {
	if s.changed == nil {
		return
	}
	if fresh, err := s.st.Postmortem(ctx, p.ID); err == nil {
		p = fresh
	} else {
		s.log.Warn("postmortem: reading it back for OnChange", "postmortem", p.ID, "err", err)
	}
	s.changed(p)
}

// AddActionItem adds an action item (title required; status open unless
// given); only while the postmortem is a draft or in review.
func (s *Service) AddActionItem(ctx context.Context, author string, id int64, it ActionItem) (ActionItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.editable(ctx, id)
	if err != nil {
		return it, err
	}
	if it.Status == "" {
		it.Status = ItemOpen
	}
	it.ID = 0
	it = normalize(it)
	if err := checkItem(it); err != nil {
		return it, err
	}
	now := s.clk.Now().UTC().Truncate(time.Microsecond)
	it.CreatedAt, it.UpdatedAt = now, now
	if err := s.st.AddActionItem(ctx, id, &it); err != nil {
		return it, notFound(err, "postmortem", id)
	}
	return it, s.save(ctx, &p, author)
}

// UpdateActionItem edits an action item. A published postmortem takes only
// a change of status.
func (s *Service) UpdateActionItem(ctx context.Context, author string, id, itemID int64, c ItemChange) (ActionItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.Get(ctx, id)
	if err != nil {
		return ActionItem{}, err
	}
	i := slices.IndexFunc(p.ActionItems, func(a ActionItem) bool { return a.ID == itemID })
	if i < 0 {
		return ActionItem{}, understudy.Errorf(understudy.ENOTFOUND, "postmortem %d has no action item %d", id, itemID)
	}
	if !p.Status.Editable() && (c.Title != nil || c.Owner != nil || c.Link != nil || c.Due != nil) {
		return ActionItem{}, understudy.Errorf(understudy.ECONFLICT, "postmortem %d is published: only the status of its action items may change", id)
	}
	it := p.ActionItems[i]
	if c.Title != nil {
		it.Title = *c.Title
	}
	if c.Owner != nil {
		it.Owner = *c.Owner
	}
	if c.Link != nil {
		it.Link = *c.Link
	}
	if c.Due != nil {
		it.Due = *c.Due
	}
	if c.Status != nil {
		it.Status = *c.Status
	}
	it = normalize(it)
	if err := checkItem(it); err != nil {
		return it, err
	}
	it.UpdatedAt = s.clk.Now().UTC().Truncate(time.Microsecond)
	if err := s.st.SaveActionItem(ctx, id, &it); err != nil {
		return it, notFound(err, "action item", itemID)
	}
	return it, s.save(ctx, &p, author)
}

// RemoveActionItem deletes an action item; only while the postmortem is a
// draft or in review (a published one keeps its items: drop them instead).
func (s *Service) RemoveActionItem(ctx context.Context, author string, id, itemID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if !p.Status.Editable() {
		return understudy.Errorf(understudy.ECONFLICT, "postmortem %d is published: its action items cannot be removed (set their status to dropped)", id)
	}
	if err := s.st.DeleteActionItem(ctx, id, itemID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return understudy.Errorf(understudy.ENOTFOUND, "postmortem %d has no action item %d", id, itemID)
		}
		return err
	}
	return s.save(ctx, &p, author)
}

// normalize trims the text fields and keeps Due to the second, in UTC (as
// the store keeps it).
func normalize(it ActionItem) ActionItem {
	it.Title, it.Owner, it.Link = strings.TrimSpace(it.Title), strings.TrimSpace(it.Owner), strings.TrimSpace(it.Link)
	if !it.Due.IsZero() {
		it.Due = time.Unix(it.Due.Unix(), 0).UTC()
	}
	return it
}

// checkItem validates an action item's fields.
func checkItem(it ActionItem) error {
	var problems []string
	if strings.TrimSpace(it.Title) == "" {
		problems = append(problems, "title is required")
	}
	if len(it.Title) > 500 || len(it.Owner) > 200 || len(it.Link) > 2000 {
		problems = append(problems, "title (500), owner (200) or link (2000 bytes) is too long")
	}
	if !it.Status.Valid() {
		problems = append(problems, fmt.Sprintf("status %q is not one of open, done, dropped", it.Status))
	}
	if it.Link != "" {
		if u, err := url.Parse(it.Link); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, fmt.Sprintf("link %q is not an http(s) URL", it.Link))
		}
	}
	if len(problems) > 0 {
		return understudy.Errorf(understudy.EINVALID, "%s", strings.Join(problems, "; "))
	}
	return nil
}
