package notify_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/understudy/understudy/notify"
)

func TestRefused(t *testing.T) {
	tests := []struct {
		addr    string
		refused bool
	}{
		{"127.0.0.1", true},
		{"127.8.9.10", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"::", true},
		{"10.0.0.1", true},
		{"172.16.5.4", true},
		{"172.31.255.255", true},
		{"192.168.1.1", true},
		{"169.254.169.254", true},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"fc00::1", true},
		{"fd12:3456::1", true},
		{"100.64.0.1", true},
		{"100.127.255.254", true},
		{"224.0.0.1", true},
		{"ff02::1", true},
		{"255.255.255.255", true},
		{"240.0.0.1", true},
		{"64:ff9b::7f00:1", true},     // NAT64 of 127.0.0.1
		{"2002:a00:1::1", true},       // 6to4 of 10.0.0.1
		{"::7f00:1", true},            // IPv4-compatible 127.0.0.1
		{"2001:0:4136:e378::1", true}, // Teredo
		{"8.8.8.8", false},
		{"93.184.216.34", false},
		{"172.32.0.1", false},
		{"100.128.0.1", false},
		{"2606:4700::1111", false},
		{"64:ff9b::808:808", false}, // NAT64 of 8.8.8.8
		{"::ffff:8.8.8.8", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := notify.Refused(netip.MustParseAddr(tt.addr)); got != tt.refused {
				t.Errorf("got %v, want %v", got, tt.refused)
			}
		})
	}
}

// fakeLookup resolves names from a table, like a DNS server that answers
// what an attacker wants.
func fakeLookup(table map[string][]string) func(context.Context, string, string) ([]netip.Addr, error) {
	return func(_ context.Context, _, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, a := range table[host] {
			out = append(out, netip.MustParseAddr(a))
		}
		if len(out) == 0 {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return out, nil
	}
}

func post(ctx context.Context, c *http.Client, u string) error {
	// The same path as the channels: a Slack channel posting to u.
	ch := notify.NewSlack(notify.ChatOptions{Client: c})
	return ch.Deliver(ctx, notify.Subscriber{ID: 1, Kind: notify.KindSlack, Address: u}, componentNote())
}

func TestSSRF(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	at := func(host string) string { return "http://" + net.JoinHostPort(host, itoa(port)) + "/hook" }
	lookup := fakeLookup(map[string][]string{
		"evil.example":     {"127.0.0.1"},
		"mixed.example":    {"::1", "127.0.0.1"}, // ::1 has no listener: the next address is tried
		"metadata.example": {"169.254.169.254"},
		"localhost":        {"127.0.0.1", "::1"},
	})
	tests := []struct {
		name string
		url  string
		// reachable: the receiver is there, so an allowed request succeeds.
		reachable bool
	}{
		{"name resolving to 127.0.0.1", at("evil.example"), true},
		{"every address of a name refused", at("mixed.example"), true},
		{"localhost", at("localhost"), true},
		{"loopback literal", at("127.0.0.1"), true},
		{"IPv4-mapped loopback", at("::ffff:127.0.0.1"), true},
		{"unspecified", at("0.0.0.0"), true}, // connects to this host on Linux
		{"IPv6 loopback", at("::1"), false},
		{"cloud metadata", "http://169.254.169.254/latest/meta-data/", false},
		{"metadata by name", "http://metadata.example/latest/meta-data/", false},
		{"private", "http://10.0.0.1/hook", false},
	}
	ctx := context.Background()
	refusing := notify.NewClient(notify.NetOptions{Lookup: lookup})
	for _, tt := range tests {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			before := hits.Load()
			err := post(ctx, refusing, tt.url)
			if !errors.Is(err, notify.ErrPermanent) || !errors.Is(err, notify.ErrRefusedAddress) {
				t.Errorf("got %v, want ErrPermanent and ErrRefusedAddress", err)
			}
			if hits.Load() != before {
				t.Errorf("the receiver was reached")
			}
		})
	}
	// The system resolver: "localhost" is refused whatever it resolves to.
	if err := post(ctx, notify.NewClient(notify.NetOptions{}), at("localhost")); !errors.Is(err, notify.ErrRefusedAddress) &&
		!contains(errText(err), "resolve") {
		t.Errorf("localhost with the system resolver: got %v, want ErrRefusedAddress", err)
	}
	// Allowed: AllowPrivate lets everything through. Unreachable ones fail
	// to connect (quickly: short timeout), but are not refused.
	allowing := notify.NewClient(notify.NetOptions{Lookup: lookup, AllowPrivate: true, Timeout: 300 * time.Millisecond})
	for _, tt := range tests {
		t.Run("allowed/"+tt.name, func(t *testing.T) {
			err := post(ctx, allowing, tt.url)
			if errors.Is(err, notify.ErrRefusedAddress) {
				t.Fatalf("got %v, want it allowed", err)
			}
			if tt.reachable && err != nil {
				t.Errorf("got %v, want delivered", err)
			}
		})
	}
	// An allow-list opens only its networks.
	listed := notify.NewClient(notify.NetOptions{Lookup: lookup, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err := post(ctx, listed, at("evil.example")); err != nil {
		t.Errorf("allow-listed 127.0.0.0/8: got %v, want delivered", err)
	}
	if err := post(ctx, listed, at("::ffff:127.0.0.1")); err != nil {
		t.Errorf("allow-listed 127.0.0.0/8, IPv4-mapped: got %v, want delivered", err)
	}
	if err := post(ctx, listed, "http://169.254.169.254/"); !errors.Is(err, notify.ErrRefusedAddress) {
		t.Errorf("not allow-listed: got %v, want ErrRefusedAddress", err)
	}
}

func TestPostRules(t *testing.T) {
	var redirected atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { redirected.Add(1) }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, target.URL, http.StatusFound)
		case "/gone":
			http.Error(w, "no such hook", http.StatusGone)
		case "/busy":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/broken":
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	c := notify.NewClient(notify.NetOptions{AllowPrivate: true})
	tests := []struct {
		name      string
		url       string
		permanent bool
		status    int
	}{
		{"redirects are not followed", srv.URL + "/redirect", true, 302},
		{"4xx is permanent", srv.URL + "/gone", true, 410},
		{"429 is retried", srv.URL + "/busy", false, 429},
		{"5xx is retried", srv.URL + "/broken", false, 500},
		{"file URL", "file:///etc/passwd", true, 0},
		{"ftp URL", "ftp://example.com/x", true, 0},
		{"no host", "http:///x", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := post(context.Background(), c, tt.url)
			if err == nil {
				t.Fatalf("got nil error, want one")
			}
			if got := errors.Is(err, notify.ErrPermanent); got != tt.permanent {
				t.Errorf("got %v (permanent %v), want permanent %v", err, got, tt.permanent)
			}
			var he *notify.HTTPError
			if tt.status != 0 && (!errors.As(err, &he) || he.Status != tt.status) {
				t.Errorf("got %v, want HTTP %d", err, tt.status)
			}
		})
	}
	if redirected.Load() != 0 {
		t.Errorf("the redirect target was reached %d times, want 0", redirected.Load())
	}
	// Errors never hold the URL: Slack and Teams URLs are secrets.
	closed := httptest.NewServer(http.NotFoundHandler())
	u := closed.URL + "/services/T000/B000/SECRETTOKEN"
	closed.Close()
	err := post(context.Background(), c, u)
	if err == nil || contains(err.Error(), "SECRETTOKEN") {
		t.Errorf("got %v, want an error without the URL", err)
	}
	if _, perr := url.Parse(u); perr != nil {
		t.Fatal(perr)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
