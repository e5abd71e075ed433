// Package drill runs continuity drills: scripted interruptions played
// through the simulator against a team's real route configuration, under an
// open-loop load, measured as clients see them and judged against the
// objectives written in the plan (see docs/drills.md).
//
// A Plan is read with Load (Parse, then Validate against the team's
// configuration); Run plays it on an in-process rig — simulator, gateway,
// SQLite store, recorder and incident engine, on the real clock, over real
// HTTP — and returns a Result, which WriteReports renders as Markdown and
// HTML.
package drill

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
	"github.com/understudy/understudy/simulate"
)

// Plan is one drill: the team's configuration, the load, the interruptions
// and the objectives. Every field's comment states its default.
type Plan struct {
	// Name is the drill's title in the report. Default: the file's name.
	Name string `yaml:"name"`
	// Config is the path of the team's understudy.yaml, relative to the
	// plan's file. Required.
	Config string `yaml:"config"`
	// Env gives values to ${NAME} references in the team's configuration
	// (a model id, a header). Default none: a reference to a name not
	// listed expands to "drill-NAME". Secrets are replaced whatever Env says.
	Env map[string]string `yaml:"env"`
	// Simulator sets how the simulated providers answer when healthy.
	Simulator SimulatorSettings `yaml:"simulator"`
	// Load is the traffic sent to the gateway. Required (rate).
	Load Traffic `yaml:"load"`
	// Duration is how long the load runs after the warm-up; steps' "at"
	// count from the end of the warm-up. Default: the end of the last step
	// plus 10s.
	Duration Duration `yaml:"duration"`
	// Steps are the scripted interruptions. Default none (a baseline drill).
	Steps []Step `yaml:"steps"`
	// Objectives are what the drill must show. At least one.
	Objectives Objectives `yaml:"objectives"`

	path string  // the file it was read from; "" when parsed from a reader
	src  *source // where each field was written
}

// SimulatorSettings are the simulated providers' healthy behaviour.
type SimulatorSettings struct {
	// FirstTokenDelay before a non-stream answer or a stream's first
	// chunk. Default 100ms.
	FirstTokenDelay Duration `yaml:"first_token_delay"`
	// TokenInterval between streamed chunks (one word each). Default 10ms.
	TokenInterval Duration `yaml:"token_interval"`
	// AnswerWords per answer. Default 24.
	AnswerWords int `yaml:"answer_words"`
}

// Traffic is the open-loop load of a drill.
type Traffic struct {
	// Rate is requests per second, sent on schedule whatever the answers
	// (open loop). Required, above 0 and at most 500.
	Rate float64 `yaml:"rate"`
	// StreamShare is the share of requests that ask for a stream, spread
	// evenly. Default 50%.
	StreamShare *Percent `yaml:"stream_share"`
	// Routes are the model names requests ask for, in turn. Default every
	// route of the team's configuration.
	Routes []string `yaml:"routes"`
	// Priorities is the share of requests sent with a key of each priority
	// (critical, default, batch), spread evenly; the shares add up to 100%.
	// Needs a key of each priority named in the team's configuration.
	// Default: every request with the first key (or none without keys).
	Priorities map[string]Percent `yaml:"priorities"`
	// Warmup is healthy traffic before the steps' clock starts. It is
	// reported apart and left out of the objectives. Default 5s; 0 means
	// none.
	Warmup *Duration `yaml:"warmup"`
}

// Step is one scripted change: a fault, a capacity or a maintenance window
// on a provider (or one target), from At for For.
type Step struct {
	// Name says what the step stands for in progress lines and the report.
	// Default: made from the change.
	Name string `yaml:"name"`
	// At is when the step starts, from the end of the warm-up. Default 0.
	At Duration `yaml:"at"`
	// For is how long it lasts. Default: until the end of the drill
	// (required for maintenance).
	For *Duration `yaml:"for"`
	// Provider names a provider of the team's configuration. One of
	// provider and target is required.
	Provider string `yaml:"provider"`
	// Target is one provider/model of the team's routes: a fault then only
	// affects that model; a maintenance drains only that target.
	Target string `yaml:"target"`
	// Fault is a simulator fault (see simulate.Fault).
	Fault *Fault `yaml:"fault"`
	// Capacity gives the provider a fixed concurrency (see
	// simulate.Capacity); provider only.
	Capacity *Capacity `yaml:"capacity"`
	// Maintenance schedules a maintenance window through the incident
	// engine: the target (or every target of the provider) is drained.
	Maintenance *Maintenance `yaml:"maintenance"`
}

// Fault is simulate.Fault as written in a plan.
type Fault struct {
	Kind        string   `yaml:"kind"`
	Status      int      `yaml:"status"`
	Code        string   `yaml:"code"`
	Type        string   `yaml:"type"`
	RetryAfter  string   `yaml:"retry_after"`
	Count       int      `yaml:"count"`
	Delay       Duration `yaml:"delay"`
	AfterChunks int      `yaml:"after_chunks"`
	Overlap     int      `yaml:"overlap"`
}

// Sim is the simulator's fault; model limits it to one model ("" = all).
func (f Fault) Sim(model string) simulate.Fault {
	return simulate.Fault{Kind: f.Kind, Status: f.Status, Code: f.Code, Type: f.Type, RetryAfter: f.RetryAfter,
		Count: f.Count, Delay: simulate.Duration(f.Delay), AfterChunks: f.AfterChunks, Overlap: f.Overlap, Model: model}
}

// Capacity is simulate.Capacity as written in a plan.
type Capacity struct {
	// Slots answered at once; at least 1.
	Slots int `yaml:"slots"`
	// Queue places beyond the slots; default 0 (refuse at once).
	Queue int `yaml:"queue"`
}

// Maintenance is a maintenance window's public text.
type Maintenance struct {
	// Title of the window. Default "Drill maintenance".
	Title string `yaml:"title"`
	// Message users read. Default none.
	Message string `yaml:"message"`
}

// Objectives are the bounds the drill is judged against. Each is optional;
// at least one is required. Shares and times are measured on the requests
// sent after the warm-up (see docs/drills.md for each definition).
type Objectives struct {
	// ClientSuccessRate: at least this share answered by a model, whole.
	ClientSuccessRate *Percent `yaml:"client_success_rate"`
	// AnsweredRate: at least this share answered at all (a model or a
	// degraded mode).
	AnsweredRate *Percent `yaml:"answered_rate"`
	// DegradedShare: at most this share answered by a degraded mode.
	DegradedShare *Percent `yaml:"degraded_share"`
	// MaxFailoverTime: every step's failover time at most this.
	MaxFailoverTime *Duration `yaml:"max_failover_time"`
	// MaxRecoveryTime: after every step that ends before the drill,
	// traffic back on its targets within this.
	MaxRecoveryTime *Duration `yaml:"max_recovery_time"`
	// TimeToIncident: from the first fault to the first incident opened.
	TimeToIncident *Duration `yaml:"time_to_incident"`
	// TimeToFirstUpdate: from the first fault to that incident's first
	// public update.
	TimeToFirstUpdate *Duration `yaml:"time_to_first_update"`
	// P50Latency and P99Latency: of whole requests, failed ones included.
	P50Latency *Duration `yaml:"p50_latency"`
	P99Latency *Duration `yaml:"p99_latency"`
	// P99TimeToFirstToken: of streams that received content.
	P99TimeToFirstToken *Duration `yaml:"p99_time_to_first_token"`
	// IncidentOpened: true, an incident opened after the warm-up; false,
	// none opened at all.
	IncidentOpened *bool `yaml:"incident_opened"`
	// IncidentComponents: an incident opened after the warm-up affects
	// every one of these components (a route, or provider:NAME).
	IncidentComponents []string `yaml:"incident_components"`
}

// Defaults.
const (
	DefaultWarmup          = 5 * time.Second
	DefaultTail            = 10 * time.Second // after the last step, when duration is not set
	DefaultFirstTokenDelay = 100 * time.Millisecond
	DefaultTokenInterval   = 10 * time.Millisecond
	DefaultAnswerWords     = 24
	MaxRate                = 500
	MaxDuration            = time.Hour
	// MaxRequests bounds rate × (warm-up + duration): every answer is kept
	// in memory until the report.
	MaxRequests = 200_000
)

// MaxPlanBytes bounds a plan file.
const MaxPlanBytes = 1 << 20

// Parse decodes a plan strictly (unknown fields refused) and applies the
// defaults; it does not read the team's configuration (Validate does).
// Problems are a *PlanError located by line and column.
func Parse(r io.Reader, filename string) (*Plan, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxPlanBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filename, err)
	}
	if len(b) > MaxPlanBytes {
		return nil, &PlanError{Errors: []FieldError{{File: filename, Message: fmt.Sprintf("file is larger than %d bytes", MaxPlanBytes)}}}
	}
	src := newSource(filename)
	f, err := parser.ParseBytes(b, 0)
	if err != nil {
		return nil, src.decodeError(err)
	}
	p := &Plan{src: src}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return nil, &PlanError{Errors: []FieldError{{File: filename, Message: "the plan is empty: it needs at least config, load and objectives"}}}
	}
	if len(f.Docs) > 1 {
		return nil, &PlanError{Errors: []FieldError{{File: filename, Message: "only one YAML document is allowed"}}}
	}
	body := f.Docs[0].Body
	src.walk(body, "", 0)
	if err := yaml.NodeToValue(body, p, yaml.DisallowUnknownField()); err != nil {
		return nil, src.decodeError(err)
	}
	p.applyDefaults()
	return p, nil
}

// Load reads the plan at path and validates it, against the team's
// configuration too.
func Load(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	p, err := Parse(bytes.NewReader(b), path)
	if err != nil {
		return nil, err
	}
	p.path = path
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Plan) applyDefaults() {
	s := &p.Simulator
	if s.FirstTokenDelay == 0 && !p.src.has("simulator.first_token_delay") {
		s.FirstTokenDelay = Duration(DefaultFirstTokenDelay)
	}
	if s.TokenInterval == 0 && !p.src.has("simulator.token_interval") {
		s.TokenInterval = Duration(DefaultTokenInterval)
	}
	if s.AnswerWords == 0 {
		s.AnswerWords = DefaultAnswerWords
	}
	if p.Load.StreamShare == nil {
		half := Percent(0.5)
		p.Load.StreamShare = &half
	}
	if p.Load.Warmup == nil {
		w := Duration(DefaultWarmup)
		p.Load.Warmup = &w
	}
	if p.Duration == 0 {
		var end time.Duration
		for _, st := range p.Steps {
			end = max(end, st.At.D()+st.length(0))
		}
		p.Duration = Duration(end + DefaultTail)
	}
	for i := range p.Steps {
		if m := p.Steps[i].Maintenance; m != nil && m.Title == "" {
			m.Title = "Drill maintenance"
		}
	}
}

// Path is the file the plan was read from; "" when it came from Parse.
func (p *Plan) Path() string { return p.path }

// Title is the plan's name, or its file's name.
func (p *Plan) Title() string {
	if p.Name != "" {
		return p.Name
	}
	if p.path != "" {
		return strings.TrimSuffix(filepath.Base(p.path), filepath.Ext(p.path))
	}
	return "drill"
}

// ConfigPath is the team's configuration file, resolved against the plan's
// directory.
func (p *Plan) ConfigPath() string {
	if filepath.IsAbs(p.Config) || p.path == "" {
		return p.Config
	}
	return filepath.Join(filepath.Dir(p.path), p.Config)
}

// Warmup is the warm-up's length.
func (p *Plan) Warmup() time.Duration { return p.Load.Warmup.D() }

// length is how long the step lasts, the drill running for total.
func (st Step) length(total time.Duration) time.Duration {
	if st.For != nil {
		return st.For.D()
	}
	return max(total-st.At.D(), 0)
}

// Where is the provider or target the step acts on.
func (st Step) Where() string {
	if st.Target != "" {
		return st.Target
	}
	return st.Provider
}

// provider is the step's provider: its own, or its target's.
func (st Step) provider() string {
	if st.Target != "" {
		prov, _, _ := strings.Cut(st.Target, "/")
		return prov
	}
	return st.Provider
}

// model is the step's target's model; "" for a whole provider.
func (st Step) model() string {
	_, model, _ := strings.Cut(st.Target, "/")
	return model
}

// Change says what the step does, in words: "fault server_error",
// "capacity 2 slots, queue 0", "maintenance".
func (st Step) Change() string {
	switch {
	case st.Fault != nil:
		s := "fault " + st.Fault.Kind
		var extra []string
		if st.Fault.Status != 0 {
			extra = append(extra, fmt.Sprintf("status %d", st.Fault.Status))
		}
		if st.Fault.Delay != 0 {
			extra = append(extra, "delay "+st.Fault.Delay.String())
		}
		if st.Fault.AfterChunks != 0 {
			extra = append(extra, fmt.Sprintf("after %d chunks", st.Fault.AfterChunks))
		}
		if st.Fault.RetryAfter != "" {
			extra = append(extra, "Retry-After "+st.Fault.RetryAfter)
		}
		if st.Fault.Count != 0 {
			extra = append(extra, fmt.Sprintf("next %d requests", st.Fault.Count))
		}
		if len(extra) > 0 {
			s += " (" + strings.Join(extra, ", ") + ")"
		}
		return s
	case st.Capacity != nil:
		return fmt.Sprintf("capacity %d slots, queue %d", st.Capacity.Slots, st.Capacity.Queue)
	case st.Maintenance != nil:
		return fmt.Sprintf("maintenance %q", st.Maintenance.Title)
	}
	return "nothing"
}

// Label is the step's name, or what it does and where.
func (st Step) Label() string {
	if st.Name != "" {
		return st.Name
	}
	return st.Where() + ": " + st.Change()
}

// isFault reports whether the step breaks something (a fault or a
// capacity): time to incident counts from the first such step.
func (st Step) isFault() bool { return st.Fault != nil || st.Capacity != nil }

// Validate checks the plan on its own, then against the team's
// configuration (read from ConfigPath). Every problem is listed, with its
// line in the plan.
func (p *Plan) Validate() error {
	v := &planValidator{src: p.src}
	v.plan(p)
	var teamErr error
	if p.Config != "" {
		team, err := loadTeam(p, "http://127.0.0.1:9", "")
		if err != nil {
			at := p.src.fieldError("config", "the team's configuration %s cannot be used", p.ConfigPath())
			teamErr = fmt.Errorf("%s:\n%w", at.Error(), err)
		} else {
			v.against(p, team.cfg)
		}
	}
	if len(v.errs) == 0 {
		return teamErr
	}
	slices.SortStableFunc(v.errs, func(a, b FieldError) int {
		if (a.Line == 0) != (b.Line == 0) {
			return map[bool]int{true: 1, false: -1}[a.Line == 0]
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	if teamErr != nil {
		return errors.Join(&PlanError{Errors: v.errs}, teamErr)
	}
	return &PlanError{Errors: v.errs}
}
