package admin_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/understudy/understudy/admin"
	"github.com/understudy/understudy/store"
)

// TestSessionsAcrossReplicas: two replicas' consoles over one store, as
// behind a round-robin load balancer. Signed in on one, the user is signed
// in on the other; a token created on one is shown once on the other's
// next page; signing out on one ends the session on both.
func TestSessionsAcrossReplicas(t *testing.T) {
	st, err := store.Open(t.Context(), store.Config{SQLitePath: filepath.Join(t.TempDir(), "u.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	shared := func(o *admin.Options) {
		o.Sessions = st
		o.IsNotFound = func(err error) bool { return errors.Is(err, store.ErrNotFound) || errors.Is(err, admin.ErrNotFound) }
	}
	a := newFixture(t, shared)
	// Replica B serves the same tokens and sessions.
	hb, err := admin.New(admin.Options{Service: a.svc, Tokens: a.tokens, Clock: a.clock, Sessions: st,
		IsNotFound: func(err error) bool { return errors.Is(err, store.ErrNotFound) || errors.Is(err, admin.ErrNotFound) }})
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	srvB := httptest.NewServer(hb)
	defer srvB.Close()

	user := a.signIn(t, adminTok) // on A
	onB := &browser{f: &fixture{srv: srvB}, c: user.c, csrf: user.csrf}
	status, page, _ := onB.get(t, "/console/")
	if status != http.StatusOK || !strings.Contains(page, "admin") {
		t.Fatalf("replica B's console for a session made on A: HTTP %d; want the signed-in home page", status)
	}
	// Create a token on B; the next page is served by A.
	status, _, res := onB.post(t, "/console/tokens", url.Values{"name": {"ci"}, "scope": {"agent"}})
	if status != http.StatusSeeOther {
		t.Fatalf("create a token on B: HTTP %d", status)
	}
	_, page, _ = user.get(t, res.Header.Get("Location"))
	if !strings.Contains(page, `id="newtoken"`) || !strings.Contains(page, "Token &#34;ci&#34; created") {
		t.Errorf("A's tokens page after B created one: no new token shown:\n%s", page)
	}
	if _, page, _ = user.get(t, "/console/tokens"); strings.Contains(page, `id="newtoken"`) {
		t.Error("the new token is shown a second time")
	}
	// Sign out on A: B no longer knows the session, even when the browser
	// still sends the cookie.
	u, _ := url.Parse(srvB.URL)
	kept := user.c.Jar.Cookies(u)
	if status, _, _ := user.post(t, "/console/signout", nil); status != http.StatusSeeOther {
		t.Fatalf("sign out: HTTP %d", status)
	}
	user.c.Jar.SetCookies(u, kept)
	if status, _, res := onB.get(t, "/console/"); status != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/console/signin") {
		t.Errorf("B after signing out on A: HTTP %d to %q, want the sign-in page", status, res.Header.Get("Location"))
	}
}
