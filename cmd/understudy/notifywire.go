package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/understudy/understudy/admin"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/incident"
	"github.com/understudy/understudy/notify"
	"github.com/understudy/understudy/notify/email"
	"github.com/understudy/understudy/status"
	"github.com/understudy/understudy/store"
	"github.com/understudy/understudy/subscribe"
)

// notifications is everything that tells subscribers.
type notifications struct {
	dispatcher *notify.Dispatcher
	relay      *relay
	subscribe  *subscribe.Handler // nil without e-mail
	extra      []admin.ExtraRoute
}

// setupNotifications builds the channels the configuration allows, the
// dispatcher over the store's outbox, and the relay from engine events.
func setupNotifications(cfg *config.Config, st *store.Store, eng *incident.Engine, log *slog.Logger, reg prometheus.Registerer) (*notifications, error) {
	nc := cfg.Notifications
	var allow []netip.Prefix
	for _, c := range nc.AllowNetworks {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("notifications.allow_networks: %w", err)
		}
		allow = append(allow, p)
	}
	client := notify.NewClient(notify.NetOptions{AllowPrivate: nc.AllowPrivate, Allow: allow})
	chat := notify.ChatOptions{Client: client, ComponentName: status.ComponentName}
	channels := map[string]notify.Channel{notify.KindSlack: notify.NewSlack(chat), notify.KindTeams: notify.NewTeams(chat)}
	if len(nc.WebhookSecrets) > 0 {
		var secrets [][]byte
		for _, s := range nc.WebhookSecrets {
			secrets = append(secrets, []byte(s.Value))
		}
		// Webhooks carry the incident objects the status API shows.
		objects := status.New(status.Options{Source: eng, Page: status.Page{Name: cfg.StatusPageName, URL: cfg.PublicURL}, Logger: log})
		wh, err := notify.NewWebhook(notify.WebhookOptions{Client: client, Secrets: secrets, Objects: objects, Page: objects.PageStatus,
			ComponentID: status.ComponentID, ComponentName: status.ComponentName})
		if err != nil {
			return nil, err
		}
		channels[notify.KindWebhook] = wh
	} else {
		log.Info("notifications.webhook_secrets is not set: webhook subscribers are not notified")
	}
	out := &notifications{}
	if e := nc.Email; e != nil {
		from, err := mail.ParseAddress(e.From)
		if err != nil {
			return nil, fmt.Errorf("notifications.email.from: %w", err)
		}
		tokens := email.Tokens{Secret: []byte(nc.LinkSecret.Value)}
		out.subscribe = subscribe.New(subscribe.Options{Store: st, Tokens: tokens, PublicURL: cfg.PublicURL,
			IsExists:  func(err error) bool { return errors.Is(err, store.ErrExists) },
			Languages: cfg.Communication.Languages, Logger: log,
			Components: func(ctx context.Context) []string {
				cs, _ := eng.Components(ctx)
				var names []string
				for _, c := range cs {
					names = append(names, c.Name)
				}
				sort.Strings(names)
				return names
			}})
		ch, err := email.New(email.Options{Host: e.Host, Port: e.Port, Username: e.Username, Password: e.Password.Value,
			From: *from, StartTLS: e.StartTLS, Logger: log, PageURL: cfg.PublicURL, UnsubscribeURL: out.subscribe.UnsubscribeURL})
		if err != nil {
			return nil, fmt.Errorf("notifications.email: %w", err)
		}
		out.subscribe.SetConfirmer(ch)
		channels[notify.KindEmail] = ch
	}
	d, err := notify.New(notify.Options{Store: st, Channels: channels, Logger: log, MaxAttempts: nc.MaxAttempts, Registry: reg,
		IsNotFound: func(err error) bool { return errors.Is(err, store.ErrNotFound) },
		IsExists:   func(err error) bool { return errors.Is(err, store.ErrExists) }})
	if err != nil {
		return nil, err
	}
	out.dispatcher = d
	out.relay = newRelay(eng, d.Notify, func() string { return cfg.PublicURL }, log)
	out.relay.again = d.NotifyAgain
	for _, r := range d.AdminRoutes() {
		out.extra = append(out.extra, admin.ExtraRoute{Method: r.Method, Pattern: r.Pattern, Scope: r.Scope, Handler: r.Handler})
	}
	if nc.Disabled {
		out.relay.notify = func(context.Context, notify.Notification) error { return nil }
		out.relay.again = out.relay.notify
		log.Warn("notifications.disabled: subscribers are not notified")
	}
	return out, nil
}
