package subscribe_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy/notify"
	"github.com/understudy/understudy/notify/email"
	"github.com/understudy/understudy/store"
	"github.com/understudy/understudy/subscribe"
)

type confirmer struct{ links []string }

func (c *confirmer) SendConfirmation(_ context.Context, _ notify.Subscriber, link string) error {
	c.links = append(c.links, link)
	return nil
}

func TestSubscribeFlow(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{SQLitePath: filepath.Join(t.TempDir(), "u.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := clockwork.NewFakeClockAt(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	c := &confirmer{}
	h := subscribe.New(subscribe.Options{Store: st, Confirmer: c, Tokens: email.Tokens{Secret: []byte("0123456789abcdef0123")},
		PublicURL: "https://status.example.com", Languages: []string{"en", "fr"}, Clock: clk,
		IsExists:   func(err error) bool { return errors.Is(err, store.ErrExists) },
		Components: func(context.Context) []string { return []string{"assistant", "provider:openai"} }})
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(form url.Values) (int, string) {
		resp, err := http.PostForm(srv.URL+"/subscribe", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for n, _ := resp.Body.Read(buf); n > 0; n, _ = resp.Body.Read(buf) {
			b.Write(buf[:n])
		}
		return resp.StatusCode, b.String()
	}
	if code, body := post(url.Values{"email": {"not an address"}}); code != 400 || !strings.Contains(body, "valid e-mail") {
		t.Errorf("bad address: %d", code)
	}
	if code, _ := post(url.Values{"email": {"Ann@Example.com"}, "component": {"assistant", "nope"}, "lang": {"fr"}}); code != 200 || len(c.links) != 1 {
		t.Fatalf("subscribe: %d, %d links", code, len(c.links))
	}
	subs, _ := st.Subscribers(ctx, notify.SubscriberFilter{})
	if len(subs) != 1 || subs[0].Status != notify.StatusPending || subs[0].Address != "ann@example.com" ||
		strings.Join(subs[0].Components, ",") != "assistant" || subs[0].Language != "fr" {
		t.Fatalf("subscriber %+v", subs)
	}
	// The same address again: the same answer, nothing new, no second e-mail.
	if code, _ := post(url.Values{"email": {"ann@example.com"}}); code != 200 || len(c.links) != 1 {
		t.Errorf("again: %d, %d links", code, len(c.links))
	}
	// An expired confirmation link does nothing; a fresh one activates.
	clk.Advance(subscribe.ConfirmFor + time.Minute)
	if resp, _ := http.Get(strings.Replace(c.links[0], "https://status.example.com", srv.URL, 1)); resp.StatusCode != 400 {
		t.Errorf("expired link: %d", resp.StatusCode)
	}
	clk.Advance(-subscribe.ConfirmFor)
	if resp, _ := http.Get(strings.Replace(c.links[0], "https://status.example.com", srv.URL, 1)); resp.StatusCode != 200 {
		t.Errorf("confirm: %d", resp.StatusCode)
	}
	if s, _ := st.Subscriber(ctx, subs[0].ID); s.Status != notify.StatusActive {
		t.Errorf("after confirmation: %s", s.Status)
	}
	// One-click unsubscribe (RFC 8058), and a tampered token.
	u := strings.Replace(h.UnsubscribeURL(subs[0]), "https://status.example.com", srv.URL, 1)
	if resp, _ := http.Post(u+"x", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click")); resp.StatusCode != 400 {
		t.Errorf("tampered: %d", resp.StatusCode)
	}
	if resp, _ := http.Post(u, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click")); resp.StatusCode != 200 {
		t.Errorf("unsubscribe: %d", resp.StatusCode)
	}
	if s, _ := st.Subscriber(ctx, subs[0].ID); s.Status != notify.StatusDisabled {
		t.Errorf("after unsubscribe: %s", s.Status)
	}
}
