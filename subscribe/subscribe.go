// Package subscribe is the public side of e-mail subscriptions: a form on
// the status page, double opt-in (a confirmation link by e-mail), and
// one-click unsubscribe (RFC 8058). Webhook, Slack and Teams subscribers are
// added by operators through the admin API.
package subscribe

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy/notice"
	"github.com/understudy/understudy/notify"
	"github.com/understudy/understudy/notify/email"
)

// Store keeps subscribers; *store.Store implements it.
type Store interface {
	CreateSubscriber(ctx context.Context, s *notify.Subscriber) error
	Subscriber(ctx context.Context, id int64) (notify.Subscriber, error)
	UpdateSubscriber(ctx context.Context, id int64, u notify.SubscriberUpdate) (bool, error)
}

// Confirmer sends the confirmation e-mail; *email.Channel implements it.
type Confirmer interface {
	SendConfirmation(ctx context.Context, s notify.Subscriber, confirmURL string) error
}

// Options configure the handler.
type Options struct {
	Store     Store
	Confirmer Confirmer
	Tokens    email.Tokens
	// PublicURL is the status page's address: the links in e-mails start there.
	PublicURL string
	// Components lists the components one may subscribe to.
	Components func(ctx context.Context) []string
	// IsExists reports a duplicate subscriber (the address is subscribed).
	IsExists  func(error) bool
	Languages []string
	Clock     clockwork.Clock
	Logger    *slog.Logger
}

// ConfirmFor is how long a confirmation link stays valid.
const ConfirmFor = 48 * time.Hour

// UnsubscribeFor is how long an unsubscribe link stays valid: as long as
// e-mails are kept, in practice.
const UnsubscribeFor = 10 * 365 * 24 * time.Hour

// Handler serves /subscribe, /subscribe/confirm and /unsubscribe.
type Handler struct {
	o   Options
	mux *http.ServeMux
}

//go:embed page.html
var files embed.FS

var page = template.Must(template.ParseFS(files, "page.html"))

// New returns the handler.
func New(o Options) *Handler {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.IsExists == nil {
		o.IsExists = func(err error) bool { return errors.Is(err, notify.ErrExists) }
	}
	h := &Handler{o: o, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /subscribe", h.form)
	h.mux.HandleFunc("POST /subscribe", h.subscribe)
	h.mux.HandleFunc("GET /subscribe/confirm", h.confirm)
	h.mux.HandleFunc("GET /unsubscribe", h.unsubscribePage)
	h.mux.HandleFunc("POST /unsubscribe", h.unsubscribe)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// SetConfirmer sets who sends confirmation e-mails (the e-mail channel is
// built after the handler, since it needs UnsubscribeURL).
func (h *Handler) SetConfirmer(c Confirmer) { h.o.Confirmer = c }

// UnsubscribeURL is the one-click link of subscriber s, for the e-mail
// channel's List-Unsubscribe header.
func (h *Handler) UnsubscribeURL(s notify.Subscriber) string {
	t := h.o.Tokens.Make(email.PurposeUnsubscribe, s.ID, h.o.Clock.Now().Add(UnsubscribeFor))
	return strings.TrimRight(h.o.PublicURL, "/") + "/unsubscribe?token=" + t
}

type view struct {
	Lang, State, Email, Error, Token string
	Components                       []string
	Chosen                           map[string]bool
	T                                map[string]string
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, v view) {
	v.Lang = notice.Negotiate(r.URL.Query().Get("lang"), r.Header.Get("Accept-Language"), h.o.Languages)
	v.T = texts[v.Lang]
	if v.T == nil {
		v.T = texts["en"]
	}
	if v.State == "form" {
		v.Components = h.o.Components(r.Context())
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
	w.WriteHeader(status)
	if err := page.Execute(w, v); err != nil {
		h.o.Logger.Warn("subscribe page", "err", err)
	}
}

func (h *Handler) form(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, view{State: "form"})
}

// subscribe creates a pending subscriber and sends the confirmation link.
// The answer is the same whether the address was new or already there, so
// the form does not tell who is subscribed.
func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		h.render(w, r, http.StatusBadRequest, view{State: "form", Error: "form"})
		return
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(r.PostForm.Get("email")))
	if err != nil || strings.ContainsAny(addr.Address, "\r\n") {
		h.render(w, r, http.StatusBadRequest, view{State: "form", Error: "email", Email: r.PostForm.Get("email")})
		return
	}
	known := map[string]bool{}
	for _, c := range h.o.Components(r.Context()) {
		known[c] = true
	}
	var comps []string
	for _, c := range r.PostForm["component"] {
		if known[c] {
			comps = append(comps, c)
		}
	}
	lang := notice.Negotiate(r.PostForm.Get("lang"), r.Header.Get("Accept-Language"), h.o.Languages)
	now := h.o.Clock.Now()
	s := notify.Subscriber{Kind: notify.KindEmail, Address: strings.ToLower(addr.Address), Components: comps,
		Status: notify.StatusPending, Language: lang, CreatedAt: now, UpdatedAt: now}
	switch err := h.o.Store.CreateSubscriber(r.Context(), &s); {
	case h.o.IsExists(err):
		h.render(w, r, http.StatusOK, view{State: "sent"})
		return
	case err != nil:
		h.o.Logger.Error("subscribe", "err", err)
		h.render(w, r, http.StatusInternalServerError, view{State: "form", Error: "internal"})
		return
	}
	link := strings.TrimRight(h.o.PublicURL, "/") + "/subscribe/confirm?token=" +
		h.o.Tokens.Make(email.PurposeConfirm, s.ID, now.Add(ConfirmFor))
	if err := h.o.Confirmer.SendConfirmation(r.Context(), s, link); err != nil {
		h.o.Logger.Warn("subscribe: confirmation e-mail", "subscriber", s.ID, "err", err)
		h.render(w, r, http.StatusBadGateway, view{State: "form", Error: "send"})
		return
	}
	h.render(w, r, http.StatusOK, view{State: "sent"})
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	id, err := h.o.Tokens.Check(email.PurposeConfirm, r.URL.Query().Get("token"), h.o.Clock.Now())
	if err != nil {
		h.render(w, r, http.StatusBadRequest, view{State: "bad-link"})
		return
	}
	if _, err := h.o.Store.UpdateSubscriber(r.Context(), id, notify.SubscriberUpdate{Status: notify.StatusActive,
		IfStatus: []string{notify.StatusPending}, At: h.o.Clock.Now()}); err != nil {
		h.render(w, r, http.StatusNotFound, view{State: "bad-link"})
		return
	}
	h.render(w, r, http.StatusOK, view{State: "confirmed"})
}

func (h *Handler) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if _, err := h.o.Tokens.Check(email.PurposeUnsubscribe, token, h.o.Clock.Now()); err != nil {
		h.render(w, r, http.StatusBadRequest, view{State: "bad-link"})
		return
	}
	h.render(w, r, http.StatusOK, view{State: "unsubscribe", Token: token})
}

// unsubscribe is RFC 8058's one-click POST (mail clients send
// "List-Unsubscribe=One-Click") and the page's button alike.
func (h *Handler) unsubscribe(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	_ = r.ParseForm()
	token := r.URL.Query().Get("token")
	if token == "" {
		token = r.PostForm.Get("token")
	}
	id, err := h.o.Tokens.Check(email.PurposeUnsubscribe, token, h.o.Clock.Now())
	if err != nil {
		h.render(w, r, http.StatusBadRequest, view{State: "bad-link"})
		return
	}
	if _, err := h.o.Store.UpdateSubscriber(r.Context(), id, notify.SubscriberUpdate{Status: notify.StatusDisabled, At: h.o.Clock.Now()}); err != nil {
		h.render(w, r, http.StatusNotFound, view{State: "bad-link"})
		return
	}
	h.render(w, r, http.StatusOK, view{State: "unsubscribed"})
}

var texts = map[string]map[string]string{
	"en": {
		"title": "Subscribe to status updates", "email": "E-mail address", "components": "Only about (none ticked: everything)",
		"submit": "Subscribe", "sent": "Check your inbox: we sent a link to confirm your subscription. It is valid for 48 hours.",
		"confirmed":   "Your subscription is confirmed. You will get an e-mail at every update.",
		"unsubscribe": "Stop receiving status e-mails?", "unsubscribe_button": "Unsubscribe",
		"unsubscribed": "You are unsubscribed: no more status e-mails.", "bad-link": "This link is invalid or has expired.",
		"err_email": "Please enter a valid e-mail address.", "err_form": "The form could not be read.",
		"err_send": "The confirmation e-mail could not be sent. Please try again later.", "err_internal": "Something went wrong. Please try again later.",
		"back": "Back to the status page",
	},
	"fr": {
		"title": "S'abonner aux nouvelles du service", "email": "Adresse e-mail", "components": "Seulement pour (rien de coché : tout)",
		"submit": "S'abonner", "sent": "Consultez votre boîte : nous vous avons envoyé un lien pour confirmer votre abonnement. Il est valable 48 heures.",
		"confirmed":   "Votre abonnement est confirmé. Vous recevrez un e-mail à chaque nouvelle.",
		"unsubscribe": "Ne plus recevoir les e-mails d'état du service ?", "unsubscribe_button": "Se désabonner",
		"unsubscribed": "Vous êtes désabonné : plus aucun e-mail d'état.", "bad-link": "Ce lien n'est pas valide ou a expiré.",
		"err_email": "Saisissez une adresse e-mail valide.", "err_form": "Le formulaire n'a pas pu être lu.",
		"err_send": "L'e-mail de confirmation n'a pas pu être envoyé. Réessayez plus tard.", "err_internal": "Une erreur s'est produite. Réessayez plus tard.",
		"back": "Retour à la page d'état",
	},
}
