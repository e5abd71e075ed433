package simulate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// The control API, under /_sim/, speaks JSON:
//
//	GET    /_sim/providers                  every provider: name, fault, schedule, capacity, stats
//	GET    /_sim/providers/{name}           one provider
//	PUT    /_sim/providers/{name}/fault     body: a Fault
//	DELETE /_sim/providers/{name}/fault
//	POST   /_sim/providers/{name}/schedule  body: {"steps":[{"fault":{…}|null,"for":"30s"}…]}
//	PUT    /_sim/providers/{name}/capacity  body: a Capacity, {"slots":4,"queue":8}
//	DELETE /_sim/providers/{name}/capacity  unlimited again
//	GET    /_sim/providers/{name}/stats
//	POST   /_sim/reset                      clear every fault, schedule and stats (capacity stays)
//
// Errors use the OpenAI error shape; "param" names the offending field.
func (s *Simulator) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sim/providers", func(w http.ResponseWriter, r *http.Request) {
		s.writeJSON(w, http.StatusOK, s.statusAll())
	})
	mux.HandleFunc("GET /_sim/providers/{name}", s.control(func(name string, _ *http.Request) (any, error) {
		return s.status(name)
	}))
	mux.HandleFunc("PUT /_sim/providers/{name}/fault", s.control(func(name string, r *http.Request) (any, error) {
		if _, err := s.provider(name); err != nil {
			return nil, err
		}
		var f Fault
		if err := decodeStrict(r.Body, &f); err != nil {
			return nil, err
		}
		if err := s.SetFault(name, f); err != nil {
			return nil, err
		}
		return s.status(name)
	}))
	mux.HandleFunc("DELETE /_sim/providers/{name}/fault", s.control(func(name string, _ *http.Request) (any, error) {
		if err := s.ClearFault(name); err != nil {
			return nil, err
		}
		return s.status(name)
	}))
	mux.HandleFunc("POST /_sim/providers/{name}/schedule", s.control(func(name string, r *http.Request) (any, error) {
		if _, err := s.provider(name); err != nil {
			return nil, err
		}
		var body struct {
			Steps []Step `json:"steps"`
		}
		if err := decodeStrict(r.Body, &body); err != nil {
			return nil, err
		}
		if err := s.Schedule(name, body.Steps); err != nil {
			return nil, err
		}
		return s.status(name)
	}))
	mux.HandleFunc("PUT /_sim/providers/{name}/capacity", s.control(func(name string, r *http.Request) (any, error) {
		if _, err := s.provider(name); err != nil {
			return nil, err
		}
		var c Capacity
		if err := decodeStrict(r.Body, &c); err != nil {
			return nil, err
		}
		if err := s.SetCapacity(name, c); err != nil {
			return nil, err
		}
		return s.status(name)
	}))
	mux.HandleFunc("DELETE /_sim/providers/{name}/capacity", s.control(func(name string, _ *http.Request) (any, error) {
		if err := s.ClearCapacity(name); err != nil {
			return nil, err
		}
		return s.status(name)
	}))
	mux.HandleFunc("GET /_sim/providers/{name}/stats", s.control(func(name string, _ *http.Request) (any, error) {
		if _, err := s.provider(name); err != nil {
			return nil, err
		}
		return s.Stats(name), nil
	}))
	mux.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		s.writeJSON(w, http.StatusOK, s.statusAll())
	})
}

// control adapts a control operation on the provider named in the path to
// HTTP; it is the one place that maps errors to statuses.
func (s *Simulator) control(op func(name string, r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := op(r.PathValue("name"), r)
		var ve *ValidationError
		switch {
		case err == nil:
			s.writeJSON(w, http.StatusOK, v)
		case errors.Is(err, ErrUnknownProvider):
			s.writeError(w, apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "unknown_provider",
				Message: fmt.Sprintf("%v; this simulator serves %s", err, strings.Join(s.names, ", "))})
		case errors.As(err, &ve):
			s.writeError(w, apiError{Status: http.StatusBadRequest, Type: "invalid_request_error",
				Code: "invalid_value", Param: ve.Field, Message: ve.Error()})
		default:
			s.log.Error("control", "path", r.URL.Path, "err", err)
			s.writeError(w, apiError{Status: http.StatusInternalServerError, Type: "server_error", Message: "internal error"})
		}
	}
}

// ProviderStatus is what the control API shows of a provider.
type ProviderStatus struct {
	Name string `json:"name"`
	// Fault is in force now, Count being what is left of it; null if healthy.
	Fault    *Fault          `json:"fault"`
	Schedule *ScheduleStatus `json:"schedule,omitempty"`
	// Capacity is the provider's fixed concurrency; null if unlimited.
	// Stats.Busy and Stats.Queued show how much of it is taken.
	Capacity *Capacity `json:"capacity"`
	Stats    Stats     `json:"stats"`
}

// ScheduleStatus describes a running schedule.
type ScheduleStatus struct {
	Started time.Time `json:"started"`
	Step    int       `json:"step"` // index of the step in force
	Steps   []Step    `json:"steps"`
}

// Status returns what provider is doing now.
func (s *Simulator) Status(provider string) (ProviderStatus, error) { return s.status(provider) }

func (s *Simulator) status(name string) (ProviderStatus, error) {
	p, err := s.provider(name)
	if err != nil {
		return ProviderStatus{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := ProviderStatus{Name: name, Fault: s.current(p, s.clock.Now()).view(), Stats: p.snapshot()}
	if c := p.gate.limit; c != nil {
		st.Capacity = &Capacity{Slots: c.Slots, Queue: c.Queue}
	}
	if sc := p.sched; sc != nil {
		steps := make([]Step, len(sc.steps))
		for i, step := range sc.steps {
			steps[i] = Step{For: step.For}
			if step.Fault != nil {
				f := *step.Fault
				steps[i].Fault = &f
			}
		}
		st.Schedule = &ScheduleStatus{Started: sc.start, Step: sc.step, Steps: steps}
	}
	return st, nil
}

func (s *Simulator) statusAll() map[string][]ProviderStatus {
	all := make([]ProviderStatus, 0, len(s.names))
	for _, n := range s.names {
		st, _ := s.status(n)
		all = append(all, st)
	}
	return map[string][]ProviderStatus{"providers": all}
}

// decodeStrict reads one JSON value strictly: unknown fields, wrong types
// and trailing data are ValidationErrors naming the field.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		return &ValidationError{Field: "body", Reason: "unexpected data after the JSON value"}
	}
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		return &ValidationError{Field: "body", Reason: "empty; want a JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &ValidationError{Field: "body", Reason: "invalid JSON: the body ends before the value does"}
	case errors.As(err, &syntax):
		return &ValidationError{Field: "body", Reason: fmt.Sprintf("invalid JSON at byte %d: %v", syntax.Offset, err)}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		want := "a " + typ.Type.Kind().String()
		switch {
		case typ.Type == reflect.TypeFor[Duration]():
			want = `a duration string such as "30s"`
		case typ.Type.Kind() == reflect.Struct || typ.Type.Kind() == reflect.Pointer:
			want = "an object"
		case typ.Type.Kind() == reflect.Slice:
			want = "an array"
		case typ.Type.Kind() == reflect.Int:
			want = "an integer"
		}
		return &ValidationError{Field: field, Reason: fmt.Sprintf("want %s, got %s", want, typ.Value)}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &ValidationError{Field: strings.Trim(name, `"`), Reason: "unknown field"}
	}
	return &ValidationError{Field: "body", Reason: err.Error()}
}
