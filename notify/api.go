package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
)

// Admin API handlers for subscriber management. Each has the shape of the
// admin package's API handlers: it writes a JSON answer, or returns an
// error that the caller writes — an *understudy.Error (EINVALID naming the
// field, ENOTFOUND, ECONFLICT) to show as is, anything else internal.
// Mount them under the admin API's authentication, e.g.
//
//	GET    /admin/v1/subscribers       ListSubscribers  (?status=&kind=)
//	POST   /admin/v1/subscribers       CreateSubscriber
//	DELETE /admin/v1/subscribers/{id}  DeleteSubscriber
//	GET    /admin/v1/deliveries        ListDeliveries   (?subscriber_id=&status=&notification_id=&limit=)
//
// AdminRoutes lists them with the scope each needs.

// AdminRoute is one admin API route: Pattern is relative to /admin/v1/.
type AdminRoute struct {
	Method  string
	Pattern string
	Scope   understudy.Scope
	Handler func(w http.ResponseWriter, r *http.Request) error
}

// AdminRoutes are the subscriber management routes. Addresses can hold
// secrets (Slack and Teams URLs): every route needs operator scope.
func (d *Dispatcher) AdminRoutes() []AdminRoute {
	op := understudy.ScopeOperator
	return []AdminRoute{
		{"GET", "subscribers", op, d.ListSubscribers},
		{"POST", "subscribers", op, d.CreateSubscriber},
		{"DELETE", "subscribers/{id}", op, d.DeleteSubscriber},
		{"GET", "deliveries", op, d.ListDeliveries},
	}
}

// SubscriberJSON is a subscriber in the admin API. Address is redacted for
// URL kinds: scheme and host only, since the rest of a Slack or Teams URL is
// its secret.
type SubscriberJSON struct {
	ID         int64    `json:"id"`
	Kind       string   `json:"kind"`
	Address    string   `json:"address"`
	Components []string `json:"components"` // [] = every component
	Status     string   `json:"status"`
	Language   string   `json:"language"`
	LastError  string   `json:"last_error"`
	CreatedAt  string   `json:"created_at"`
	UpdatedAt  string   `json:"updated_at"`
}

// SubscribersJSON is the answer of ListSubscribers.
type SubscribersJSON struct {
	Subscribers []SubscriberJSON `json:"subscribers"`
}

// NewSubscriberRequest is the body of CreateSubscriber.
type NewSubscriberRequest struct {
	Kind       string   `json:"kind"`       // webhook, slack, teams or email
	Address    string   `json:"address"`    // http(s) URL, or e-mail address
	Components []string `json:"components"` // empty: every component
	Language   string   `json:"language"`   // en (default) or fr
	Status     string   `json:"status"`     // active (default), pending or disabled
}

// DeliveryJSON is a delivery in the admin API (without its payload).
type DeliveryJSON struct {
	ID             int64  `json:"id"`
	SubscriberID   int64  `json:"subscriber_id"`
	NotificationID string `json:"notification_id"`
	Status         string `json:"status"`
	Attempts       int    `json:"attempts"`
	NextAttemptAt  string `json:"next_attempt_at"`
	LastError      string `json:"last_error"`
	CreatedAt      string `json:"created_at"`
	UpdatedAt      string `json:"updated_at"`
	DeliveredAt    string `json:"delivered_at,omitempty"`
}

// DeliveriesJSON is the answer of ListDeliveries.
type DeliveriesJSON struct {
	Deliveries []DeliveryJSON `json:"deliveries"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// RedactAddress is how the admin API shows a subscriber's address.
func RedactAddress(kind, address string) string {
	if kind == KindEmail {
		return address
	}
	u, err := url.Parse(address)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	out := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		out += "/…"
	}
	return out
}

func subscriberJSON(s Subscriber) SubscriberJSON {
	comps := s.Components
	if comps == nil {
		comps = []string{}
	}
	return SubscriberJSON{ID: s.ID, Kind: s.Kind, Address: RedactAddress(s.Kind, s.Address), Components: comps,
		Status: s.Status, Language: s.Language, LastError: s.LastError, CreatedAt: rfc3339(s.CreatedAt),
		UpdatedAt: rfc3339(s.UpdatedAt)}
}

// ListSubscribers answers SubscribersJSON, optionally filtered by ?status=
// and ?kind=.
func (d *Dispatcher) ListSubscribers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var f SubscriberFilter
	if st := q.Get("status"); st != "" {
		if !slices.Contains(statuses, st) {
			return oneOf("status", st, statuses)
		}
		f.Statuses = []string{st}
	}
	if k := q.Get("kind"); k != "" {
		if !slices.Contains(kinds, k) {
			return oneOf("kind", k, kinds)
		}
		f.Kind = k
	}
	subs, err := d.store.Subscribers(r.Context(), f)
	if err != nil {
		return err
	}
	out := SubscribersJSON{Subscribers: []SubscriberJSON{}}
	for _, s := range subs {
		out.Subscribers = append(out.Subscribers, subscriberJSON(s))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

var (
	kinds     = []string{KindWebhook, KindSlack, KindTeams, KindEmail}
	statuses  = []string{StatusPending, StatusActive, StatusFailing, StatusDisabled}
	creatable = []string{StatusActive, StatusPending, StatusDisabled}
	langs     = []string{"en", "fr"}
)

func oneOf(field, value string, allowed []string) error {
	return &understudy.Error{Code: understudy.EINVALID, Param: field,
		Message: field + ": " + strconv.Quote(value) + " is not one of " + strings.Join(allowed, ", ")}
}

func invalid(field, msg string) error {
	return &understudy.Error{Code: understudy.EINVALID, Param: field, Message: field + ": " + msg}
}

// CreateSubscriber reads a NewSubscriberRequest and answers 201 with the
// SubscriberJSON; ECONFLICT when the kind and address are taken.
func (d *Dispatcher) CreateSubscriber(w http.ResponseWriter, r *http.Request) error {
	var req NewSubscriberRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	s, err := validSubscriber(req)
	if err != nil {
		return err
	}
	now := d.clock.Now()
	s.CreatedAt, s.UpdatedAt = now, now
	if err := d.store.CreateSubscriber(r.Context(), &s); err != nil {
		if d.isExists(err) {
			return &understudy.Error{Code: understudy.ECONFLICT, Param: "address",
				Message: "a " + s.Kind + " subscriber with this address already exists"}
		}
		return err
	}
	writeJSON(w, http.StatusCreated, subscriberJSON(s))
	return nil
}

// validSubscriber checks req field by field.
func validSubscriber(req NewSubscriberRequest) (Subscriber, error) {
	s := Subscriber{Kind: req.Kind, Address: strings.TrimSpace(req.Address), Language: req.Language,
		Status: req.Status}
	if !slices.Contains(kinds, s.Kind) {
		return s, oneOf("kind", s.Kind, kinds)
	}
	if s.Address == "" {
		return s, invalid("address", "required")
	}
	if s.Kind == KindEmail {
		a, err := mail.ParseAddress(s.Address)
		if err != nil || a.Name != "" {
			return s, invalid("address", "not an e-mail address like name@example.com")
		}
	} else {
		u, err := url.Parse(s.Address)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return s, invalid("address", "not an http or https URL (without user:password@)")
		}
	}
	if s.Language == "" {
		s.Language = "en"
	}
	if !slices.Contains(langs, s.Language) {
		return s, oneOf("language", s.Language, langs)
	}
	if s.Status == "" {
		s.Status = StatusActive
	}
	if !slices.Contains(creatable, s.Status) {
		return s, oneOf("status", s.Status, creatable)
	}
	for i, c := range req.Components {
		if strings.TrimSpace(c) == "" {
			return s, invalid("components", "element "+strconv.Itoa(i)+" is empty")
		}
	}
	s.Components = slices.Compact(slices.Sorted(slices.Values(req.Components)))
	if len(s.Components) == 0 {
		s.Components = nil
	}
	return s, nil
}

// DeleteSubscriber deletes subscriber {id} and its deliveries and answers
// the deleted SubscriberJSON.
func (d *Dispatcher) DeleteSubscriber(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return invalid("id", strconv.Quote(r.PathValue("id"))+" is not a positive number")
	}
	s, err := d.store.Subscriber(r.Context(), id)
	if err == nil {
		err = d.store.DeleteSubscriber(r.Context(), id)
	}
	if d.isNotFound(err) {
		return understudy.Errorf(understudy.ENOTFOUND, "no subscriber %d", id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, subscriberJSON(s))
	return nil
}

// ListDeliveries answers DeliveriesJSON, newest first, filtered by
// ?subscriber_id=, ?status=, ?notification_id= and ?limit= (1 to 1000,
// default 100).
func (d *Dispatcher) ListDeliveries(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := DeliveryFilter{NotificationID: q.Get("notification_id"), Status: q.Get("status")}
	if f.Status != "" {
		if all := []string{DeliveryPending, DeliveryDelivered, DeliveryFailed}; !slices.Contains(all, f.Status) {
			return oneOf("status", f.Status, all)
		}
	}
	if s := q.Get("subscriber_id"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return invalid("subscriber_id", strconv.Quote(s)+" is not a positive number")
		}
		f.SubscriberID = id
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return invalid("limit", strconv.Quote(s)+" is not a number from 1 to 1000")
		}
		f.Limit = n
	}
	ds, err := d.store.Deliveries(r.Context(), f)
	if err != nil {
		return err
	}
	out := DeliveriesJSON{Deliveries: []DeliveryJSON{}}
	for _, dl := range ds {
		out.Deliveries = append(out.Deliveries, DeliveryJSON{ID: dl.ID, SubscriberID: dl.SubscriberID,
			NotificationID: dl.NotificationID, Status: dl.Status, Attempts: dl.Attempts,
			NextAttemptAt: rfc3339(dl.NextAttemptAt), LastError: dl.LastError, CreatedAt: rfc3339(dl.CreatedAt),
			UpdatedAt: rfc3339(dl.UpdatedAt), DeliveredAt: rfc3339(dl.DeliveredAt)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

// decodeJSON reads exactly one JSON object, with no unknown field, from r's
// body into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return understudy.Errorf(understudy.ETOOLARGE, "request body is over %d bytes", mbe.Limit)
		}
		return understudy.Errorf(understudy.EINVALID, "reading the request body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return invalid(typ.Field, "want "+typ.Type.String()+", got "+typ.Value)
		}
		return understudy.Errorf(understudy.EINVALID, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return understudy.Errorf(understudy.EINVALID, "invalid JSON body: unexpected data after the object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
