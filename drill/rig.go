package drill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/chat"
	"github.com/understudy/understudy/faq"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/handoff"
	"github.com/understudy/understudy/incident"
	"github.com/understudy/understudy/recorder"
	"github.com/understudy/understudy/simulate"
	"github.com/understudy/understudy/store"
)

// rig is what `understudy serve` runs, in this process, in front of the
// simulator: the gateway with the team's rewritten configuration, the
// SQLite store, the recorder and the incident engine, on the real clock
// over real HTTP (httptest servers).
type rig struct {
	team   *team
	sim    *simulate.Simulator
	simSrv *httptest.Server
	tmp    string
	st     *store.Store
	eng    *incident.Engine
	gw     *gateway.Gateway
	gwSrv  *httptest.Server
	kb     *faq.KB
	events *eventLog
	logs   *lockedBuffer // the engine's warnings
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

// newRig starts the simulator, then the rest wired as serve wires it: the
// recorder and the engine take the gateway's events, attempts and
// outcomes; the engine's own events go to the recorder; the engine is the
// gateway's notice source and degrader, and feeds onEvent.
func newRig(ctx context.Context, p *Plan, onEvent func(int64, understudy.Event)) (_ *rig, err error) {
	r := &rig{logs: &lockedBuffer{}, stop: func() {}, events: newEventLog(onEvent)}
	defer func() {
		if err != nil {
			_ = r.close()
		}
	}()
	if r.tmp, err = os.MkdirTemp("", "understudy-drill-"); err != nil {
		return nil, err
	}
	// The configuration needs the simulator's address, the simulator the
	// configuration's providers: listen first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if r.team, err = loadTeam(p, "http://"+ln.Addr().String(), filepath.Join(r.tmp, "drill.db")); err != nil {
		ln.Close()
		return nil, fmt.Errorf("team config %s: %w", p.ConfigPath(), err)
	}
	cfg := r.team.cfg
	var names []string
	for _, pr := range cfg.Providers {
		names = append(names, pr.Name)
	}
	// SameAnswers: a stream continued on another provider gets exactly
	// the rest of the answer, as an ideal backup model would give.
	r.sim = simulate.New(simulate.Options{Providers: names, Keys: r.team.providerKeys, SameAnswers: true,
		FirstTokenDelay: p.Simulator.FirstTokenDelay.D(), TokenInterval: p.Simulator.TokenInterval.D(), AnswerWords: p.Simulator.AnswerWords})
	r.simSrv = httptest.NewUnstartedServer(r.sim)
	r.simSrv.Listener.Close()
	r.simSrv.Listener = ln
	r.simSrv.Start()

	if r.st, err = store.Open(ctx, store.Config{SQLitePath: cfg.Storage.SQLite}); err != nil {
		return nil, err
	}
	rec := recorder.New(r.st, recorder.Options{FlushEvery: cfg.Storage.FlushEvery.D()})
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r.eng = incident.New(cfg, incident.Options{Store: r.st, Events: rec, Logger: log, OnEvent: r.events.onEngineEvent})
	gwOpts := gateway.Options{Events: gateway.Sinks(rec, r.eng, r.events), Notices: r.eng, Degrader: r.eng}
	if cfg.FAQ.Dir != "" {
		if r.kb, err = faq.New(faq.Options{Dir: cfg.FAQ.Dir, Threshold: cfg.FAQ.Threshold}); err != nil {
			return nil, fmt.Errorf("faq: %w", err)
		}
		gwOpts.FAQ = faqAnswers{r.kb}
	}
	gwOpts.Handoff = handoffs{svc: handoff.New(handoff.Options{Store: r.st, Shutdown: ctx.Done()})}
	if r.gw, err = gateway.New(cfg, gwOpts); err != nil {
		return nil, err
	}
	r.eng.SetGateway(r.gw)
	r.gwSrv = httptest.NewServer(r.gw.Handler())

	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = stop
	r.wg.Add(2)
	go func() { defer r.wg.Done(); rec.Run(runCtx) }()
	go func() { defer r.wg.Done(); r.eng.Run(runCtx) }()
	return r, nil
}

// close stops everything in order: the simulator's held answers, the
// servers, the gateway's probes, the engine and the recorder, the store.
func (r *rig) close() error {
	if r.sim != nil {
		r.sim.Close()
	}
	if r.gwSrv != nil {
		r.gwSrv.Close()
	}
	if r.gw != nil {
		r.gw.Close()
	}
	if r.simSrv != nil {
		r.simSrv.Close()
	}
	r.stop()
	r.wg.Wait()
	var err error
	if r.kb != nil {
		r.kb.Close()
	}
	if r.st != nil {
		err = r.st.Close()
	}
	if r.tmp != "" {
		err = errors.Join(err, os.RemoveAll(r.tmp))
	}
	return err
}

// engineWarnings are the engine's log lines at warn and up.
func (r *rig) engineWarnings() []string {
	var out []string
	for line := range strings.Lines(r.logs.String()) {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// lockedBuffer is a log destination shared by goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 {
		return len(p), nil // bounded: a runaway log is not the report's business
	}
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TimelineEntry is one notable event of the drill.
type TimelineEntry struct {
	Time     time.Time
	Type     string
	Incident int64 // 0 when about no incident
	Target   string
	Message  string
}

// maxTimeline bounds the timeline kept for the report.
const maxTimeline = 400

// eventLog keeps the gateway's and the engine's notable events, and counts
// every type.
type eventLog struct {
	mu       sync.Mutex
	entries  []TimelineEntry
	counts   map[string]int
	dropped  int
	onEngine func(int64, understudy.Event)
}

var _ gateway.EventSink = (*eventLog)(nil)

func newEventLog(onEngine func(int64, understudy.Event)) *eventLog {
	return &eventLog{counts: map[string]int{}, onEngine: onEngine}
}

// notable are the event types the timeline shows; the others are counted.
var notable = []string{
	understudy.EventBreakerChanged, understudy.EventTargetCooled, understudy.EventTargetDown, understudy.EventTargetUp,
	understudy.EventIncidentOpened, understudy.EventIncidentUpdated, understudy.EventIncidentMonitoring,
	understudy.EventIncidentResolved, understudy.EventIncidentReopened, understudy.EventIncidentMerged,
	understudy.EventMaintenancePlanned, understudy.EventMaintenanceStarted, understudy.EventMaintenanceVerify,
	understudy.EventMaintenanceDone, understudy.EventMaintenanceCanceled, understudy.EventComponentChanged,
	understudy.EventShed,
}

// Emit takes the gateway's events (on the request path: it only appends).
func (l *eventLog) Emit(ev understudy.Event) { l.add(0, ev) }

func (l *eventLog) onEngineEvent(id int64, ev understudy.Event) {
	l.add(id, ev)
	if l.onEngine != nil {
		l.onEngine(id, ev)
	}
}

func (l *eventLog) add(id int64, ev understudy.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[ev.Type]++
	if !slices.Contains(notable, ev.Type) {
		return
	}
	if len(l.entries) >= maxTimeline {
		l.dropped++
		return
	}
	l.entries = append(l.entries, TimelineEntry{Time: ev.Time, Type: ev.Type, Incident: id, Target: ev.Target, Message: ev.Message})
}

func (l *eventLog) snapshot() ([]TimelineEntry, map[string]int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	counts := make(map[string]int, len(l.counts))
	for k, v := range l.counts {
		counts[k] = v
	}
	return slices.Clone(l.entries), counts, l.dropped
}

// faqAnswers is the knowledge base as the gateway's "faq" step asks it.
type faqAnswers struct{ kb *faq.KB }

var _ gateway.FAQ = faqAnswers{}

func (f faqAnswers) Answer(ctx context.Context, question, lang string) (string, string, bool) {
	m, ok := f.kb.Search(ctx, question, lang)
	return m.Answer, m.Lang, ok
}

// handoffs queues handed-off conversations in the drill's store; nobody
// takes them.
type handoffs struct{ svc *handoff.Service }

var _ gateway.Handoff = handoffs{}

func (h handoffs) HandOff(ctx context.Context, route, priority string, msgs []chat.Message, _ string) (string, string, int64, error) {
	transcript := handoff.Transcript(msgs)
	conv, _, err := h.svc.Enqueue(ctx, route, priority, transcript)
	if err != nil {
		return "", "", 0, err
	}
	return fmt.Sprintf("A person from our team will take over this conversation (reference #%d).", conv.ID), "en", conv.ID, nil
}
