package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/understudy/understudy/chat"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/handoff"
	"github.com/understudy/understudy/notice"
	"github.com/understudy/understudy/notify"
)

// handoffs is the handoff service as the gateway's "handoff" step uses it.
type handoffs struct {
	svc       *handoff.Service
	languages func() []string
	// created tells webhook subscribers (handoff.created); nil: nobody.
	created   func(ctx context.Context, n notify.Notification) error
	publicURL string
	log       *slog.Logger
}

var _ gateway.Handoff = handoffs{}

var handoffText = map[string]string{
	"en": "A person from our team will take over this conversation (reference #%d). Estimated wait: %s.",
	"fr": "Une personne de notre équipe va prendre le relais de cette conversation (référence n° %d). Attente estimée : %s.",
}

func (h handoffs) HandOff(ctx context.Context, route, priority string, msgs []chat.Message, acceptLanguage string) (string, string, int64, error) {
	transcript := handoff.Transcript(msgs)
	conv, wait, err := h.svc.Enqueue(ctx, route, priority, transcript)
	if err != nil {
		return "", "", 0, err
	}
	if h.created != nil {
		n := notify.Notification{ID: fmt.Sprintf("handoff:%d", conv.ID), Kind: notify.NoteHandoff, Time: conv.CreatedAt,
			Components: []string{route}, Handoff: &notify.Handoff{ID: conv.ID, Route: route, Priority: priority, CreatedAt: conv.CreatedAt}}
		if u := strings.TrimRight(h.publicURL, "/"); u != "" {
			n.Handoff.URL = fmt.Sprintf("%s/handoff/v1/conversations/%d", u, conv.ID)
		}
		// Queued in the outbox: the request does not wait for delivery.
		if err := h.created(ctx, n); err != nil {
			h.log.Warn("handoff.created notification", "conversation", conv.ID, "err", err)
		}
	}
	lang := notice.Negotiate("", acceptLanguage, h.languages())
	format, ok := handoffText[lang]
	if !ok {
		lang, format = "en", handoffText["en"]
	}
	return fmt.Sprintf(format, conv.ID, waitWords(wait, lang)), lang, conv.ID, nil
}

// waitWords says a wait in whole minutes, rounded up.
func waitWords(d time.Duration, lang string) string {
	m := int(math.Ceil(d.Minutes()))
	switch {
	case lang == "fr" && m <= 1:
		return "moins d'une minute"
	case lang == "fr":
		return fmt.Sprintf("environ %d minutes", m)
	case m <= 1:
		return "less than a minute"
	}
	return fmt.Sprintf("about %d minutes", m)
}
