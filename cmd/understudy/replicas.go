package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/cluster"
	"github.com/understudy/understudy/gateway"
)

// breakerHints shares breaker openings between replicas over the cluster
// bus: when a target's breaker opens here, the other replicas open theirs
// until the same time (gateway.HintDown), so that they stop sending it
// traffic without each paying the failures that opened it. Openings caused
// by a hint are not hinted on again.
type breakerHints struct {
	bus *cluster.Bus
	gw  *gateway.Gateway
	log *slog.Logger
	out chan cluster.Message // openings to publish, bounded
}

// hintKind is the bus message kind of a breaker opening.
const hintKind = "target_down"

type hint struct {
	Target string    `json:"target"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

func newBreakerHints(bus *cluster.Bus, log *slog.Logger) *breakerHints {
	return &breakerHints{bus: bus, log: log, out: make(chan cluster.Message, 256)}
}

// Emit takes the gateway's events; it never blocks (a full queue drops the
// hint: the other replicas' own breakers still work).
func (h *breakerHints) Emit(e understudy.Event) {
	if h == nil || e.Type != understudy.EventBreakerChanged || e.Details["to"] != "open" {
		return
	}
	reason, _ := e.Details["reason"].(string)
	if strings.Contains(reason, gateway.HintReason) {
		return
	}
	until, _ := e.Details["open_until"].(time.Time)
	data, _ := json.Marshal(hint{Target: e.Target, Until: until, Reason: reason})
	select {
	case h.out <- cluster.Message{Kind: hintKind, Data: data}:
	default:
		h.log.Warn("breaker hint dropped: the queue is full", "target", e.Target)
	}
}

// Run publishes this replica's openings and applies the others' until ctx
// ends. The gateway must be set before.
func (h *breakerHints) Run(ctx context.Context) {
	in, cancel := h.bus.Subscribe()
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-h.out:
			pctx, stop := context.WithTimeout(ctx, 5*time.Second)
			if err := h.bus.Publish(pctx, m); err != nil {
				h.log.Warn("breaker hint not published", "err", err)
			}
			stop()
		case m, ok := <-in:
			if !ok {
				return
			}
			if m.Kind != hintKind || m.Origin == h.bus.Origin() {
				continue
			}
			var x hint
			if err := json.Unmarshal(m.Data, &x); err != nil {
				h.log.Warn("breaker hint unreadable", "err", err)
				continue
			}
			if h.gw.HintDown(x.Target, x.Until, x.Reason) {
				h.log.Info("breaker opened on another replica's hint", "target", x.Target, "until", x.Until, "reason", x.Reason)
			}
		}
	}
}
