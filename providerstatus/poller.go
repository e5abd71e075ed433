// Package providerstatus reads the providers' own word on their health: it
// polls each provider's public Statuspage summary (…/api/v2/summary.json) and
// keeps, per provider, the overall indicator, the components that are not
// operational and the unresolved incidents, so that an Understudy incident
// can carry the provider's declared incident as evidence.
//
// A provider's incident alone never opens one of ours: this package only
// reports, it decides nothing.
package providerstatus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// Defaults for Options.
const (
	DefaultInterval = 60 * time.Second
	DefaultTimeout  = 10 * time.Second
	DefaultMaxBody  = 2 << 20 // 2 MiB
	maxRedirects    = 5
)

// Errors.
var (
	ErrBadURL      = errors.New("providerstatus: status page URL must be absolute http(s)")
	ErrDuplicate   = errors.New("providerstatus: provider already watched")
	ErrStatus      = errors.New("providerstatus: unexpected HTTP status")
	ErrTooLarge    = errors.New("providerstatus: summary body too large")
	ErrBadSummary  = errors.New("providerstatus: invalid summary JSON")
	ErrRedirectOff = errors.New("providerstatus: redirect to another host refused")
)

// Options configures a Poller. The zero value is usable.
type Options struct {
	// Clock paces the polls and stamps reports. Zero: the real clock.
	Clock clockwork.Clock
	// Client makes the requests. It is copied, and the copy refuses
	// redirects to another host:port (and more than 5). Zero: a new http.Client.
	Client *http.Client
	// Interval between two polls of every page. Zero: 60 s.
	Interval time.Duration
	// Timeout bounds one request, body included. It is a network deadline
	// and runs on the wall clock, not on Clock. Zero: 10 s.
	Timeout time.Duration
	// MaxBody is the largest summary accepted, in bytes. Zero: 2 MiB.
	MaxBody int64
	// Logger receives a warning per failed poll. Zero: discard.
	Logger *slog.Logger
}

// Poller polls the watched status pages. Create it with New, add pages with
// Watch, and call Run once; Snapshot is safe from any goroutine.
type Poller struct {
	clk      clockwork.Clock
	client   *http.Client
	interval time.Duration
	timeout  time.Duration
	maxBody  int64
	log      *slog.Logger

	mu    sync.Mutex
	pages map[string]*page
	order []string // watch order
}

type page struct {
	name   string
	url    string
	report Report
	tried  bool
}

// New returns a Poller with opts' zero fields set to their defaults.
func New(opts Options) *Poller {
	p := &Poller{
		clk:      opts.Clock,
		interval: opts.Interval,
		timeout:  opts.Timeout,
		maxBody:  opts.MaxBody,
		log:      opts.Logger,
		pages:    make(map[string]*page),
	}
	if p.clk == nil {
		p.clk = clockwork.NewRealClock()
	}
	if p.interval <= 0 {
		p.interval = DefaultInterval
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.maxBody <= 0 {
		p.maxBody = DefaultMaxBody
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	client := http.Client{}
	if opts.Client != nil {
		client = *opts.Client
	}
	next := client.CheckRedirect
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("providerstatus: stopped after %d redirects", maxRedirects)
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("%w: %s", ErrBadURL, req.URL.Redacted())
		}
		if req.URL.Host != via[0].URL.Host {
			return fmt.Errorf("%w: %s to %s", ErrRedirectOff, via[0].URL.Host, req.URL.Host)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	p.client = &client
	return p
}

// Watch adds a provider's status page: summaryURL is the full address of its
// summary, e.g. https://status.example.com/api/v2/summary.json. A page added
// while Run is running is first polled at the next round.
func (p *Poller) Watch(name, summaryURL string) error {
	u, err := url.Parse(summaryURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: provider %q: %q", ErrBadURL, name, summaryURL)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.pages[name]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicate, name)
	}
	p.pages[name] = &page{name: name, url: u.String()}
	p.order = append(p.order, name)
	return nil
}

// Snapshot returns the provider's report. ok is false when the provider is not
// watched or has not been polled yet; after a failed first poll it is true,
// with a zero PolledAt and LastError set.
func (p *Poller) Snapshot(name string) (Report, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pg, ok := p.pages[name]
	if !ok || !pg.tried {
		return Report{}, false
	}
	r := pg.report
	r.Components = slices.Clone(r.Components)
	r.Incidents = slices.Clone(r.Incidents)
	r.Maintenances = slices.Clone(r.Maintenances)
	return r, true
}

// Run polls every watched page at once, then again Interval (on the Clock)
// after each round ends, until ctx ends. Pages are polled concurrently; a
// round ends when every page's poll has (each is bounded by Timeout). A poll
// cut short by ctx is not recorded.
func (p *Poller) Run(ctx context.Context) {
	for {
		p.PollOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-p.clk.After(p.interval):
		}
	}
}

// PollOnce polls every watched page once and waits for all of them.
func (p *Poller) PollOnce(ctx context.Context) {
	p.mu.Lock()
	targets := make([]*page, 0, len(p.order))
	for _, name := range p.order {
		targets = append(targets, p.pages[name])
	}
	p.mu.Unlock()

	var wg sync.WaitGroup
	for _, pg := range targets {
		wg.Go(func() { p.poll(ctx, pg) })
	}
	wg.Wait()
}

func (p *Poller) poll(ctx context.Context, pg *page) {
	sum, err := p.fetch(ctx, pg.url)
	now := p.clk.Now()

	if err != nil && ctx.Err() != nil {
		return // shutting down: not the page's fault
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pg.tried = true
	pg.report.AttemptedAt = now
	pg.report.LastError = err
	if err != nil {
		p.log.Warn("provider status poll failed", "provider", pg.name, "url", pg.url, "err", err)
		if pg.report.Provider == "" {
			pg.report.Provider, pg.report.SourceURL = pg.name, pg.url
		}
		return
	}
	r := reduce(sum)
	r.Provider, r.SourceURL = pg.name, pg.url
	r.PolledAt, r.AttemptedAt = now, now
	pg.report = r
}

func (p *Poller) fetch(ctx context.Context, summaryURL string) (*Summary, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, summaryURL, nil)
	if err != nil {
		return nil, fmt.Errorf("providerstatus: %s: %w", summaryURL, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "understudy-providerstatus")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("providerstatus: GET %s: %w", summaryURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("%w: GET %s: %s", ErrStatus, summaryURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("providerstatus: read %s: %w", summaryURL, err)
	}
	if int64(len(body)) > p.maxBody {
		return nil, fmt.Errorf("%w: %s: over %d bytes", ErrTooLarge, summaryURL, p.maxBody)
	}
	var sum Summary
	if err := json.Unmarshal(body, &sum); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadSummary, summaryURL, err)
	}
	if sum.Status.Indicator == "" && sum.Page.ID == "" {
		return nil, fmt.Errorf("%w: %s: no page nor status", ErrBadSummary, summaryURL)
	}
	return &sum, nil
}

// reduce keeps what is not fine in a summary.
func reduce(s *Summary) Report {
	r := Report{
		PageName:    s.Page.Name,
		PageURL:     s.Page.URL,
		Indicator:   s.Status.Indicator,
		Description: s.Status.Description,
	}
	for _, c := range s.Components {
		if c.Status != "" && c.Status != ComponentOperational {
			r.Components = append(r.Components, ComponentStatus{ID: c.ID, Name: c.Name, Status: c.Status, UpdatedAt: c.UpdatedAt})
		}
	}
	for _, inc := range s.Incidents {
		if inc.Status == IncidentResolved || inc.Status == IncidentPostmortem {
			continue
		}
		r.Incidents = append(r.Incidents, incidentReport(inc))
	}
	for _, m := range s.ScheduledMaintenances {
		if m.Status != MaintenanceInProgress && m.Status != MaintenanceVerifying {
			continue
		}
		ir := incidentReport(m.Incident)
		if !m.ScheduledFor.IsZero() {
			ir.Started = m.ScheduledFor
		}
		r.Maintenances = append(r.Maintenances, ir)
	}
	return r
}

func incidentReport(inc Incident) IncidentReport {
	ir := IncidentReport{
		ID:      inc.ID,
		Name:    inc.Name,
		Status:  inc.Status,
		Impact:  inc.Impact,
		Started: inc.StartedAt,
	}
	if u, err := url.Parse(inc.Shortlink); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		ir.Shortlink = inc.Shortlink
	}
	if ir.Started.IsZero() {
		ir.Started = inc.CreatedAt
	}
	for _, u := range inc.IncidentUpdates {
		if ir.LatestAt.IsZero() || u.CreatedAt.After(ir.LatestAt) {
			ir.Latest, ir.LatestAt = u.Body, u.CreatedAt
		}
	}
	for _, c := range inc.Components {
		ir.Components = append(ir.Components, c.Name)
	}
	return ir
}
