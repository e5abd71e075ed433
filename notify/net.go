package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// NetOptions configure the HTTP client of the webhook, Slack and Teams
// channels, and its protection against server-side request forgery: a
// subscriber's URL must not make Understudy call its own network.
type NetOptions struct {
	// AllowPrivate lets deliveries reach every address, private ones
	// included. Default false: see Refused for what is refused.
	AllowPrivate bool
	// Allow lists networks reachable even though Refused refuses them (e.g.
	// an internal receiver at 10.1.2.3/32). Default none.
	Allow []netip.Prefix
	// Lookup resolves a host name to addresses. Default
	// net.DefaultResolver.LookupNetIP.
	Lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// Timeout bounds one request, from dialing to the end of the response.
	// Default 10s.
	Timeout time.Duration
	// UserAgent is sent with every request. Default "Understudy-Notify/1".
	UserAgent string
}

// ErrRefusedAddress is wrapped (with ErrPermanent) by deliveries to an
// address NetOptions do not allow.
var ErrRefusedAddress = errors.New("notify: destination address refused")

// blocked are the networks Refused refuses besides what netip's predicates
// name: "this network", CGNAT, IETF protocol assignments, benchmarking,
// reserved and broadcast, and the deprecated IPv6 site-local and
// IPv4-compatible forms.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("fec0::/10"),
}

// Prefixes of IPv6 addresses that embed an IPv4 address in their bits:
// NAT64 (the last 32 bits) and 6to4 (bits 16 to 48).
var (
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4  = netip.MustParsePrefix("2002::/16")
	teredoP = netip.MustParsePrefix("2001::/32")
)

// Refused reports whether a is an address deliveries must not reach by
// default: loopback, private (RFC 1918, fc00::/7), link-local (169.254/16
// with 169.254.169.254, fe80::/10), unspecified, multicast, CGNAT
// (100.64/10), reserved ranges, and IPv6 forms embedding any of those
// (IPv4-mapped ::ffff:a.b.c.d, NAT64, 6to4). Teredo is refused outright.
func Refused(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range blocked {
		if p.Contains(a) {
			return true
		}
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			return Refused(netip.AddrFrom4([4]byte(b[12:16])))
		case sixTo4.Contains(a):
			return Refused(netip.AddrFrom4([4]byte(b[2:6])))
		case teredoP.Contains(a):
			return true
		}
	}
	return false
}

// guard decides which addresses a client may connect to.
type guard struct {
	allowPrivate bool
	allow        []netip.Prefix
}

func (g guard) check(a netip.Addr) error {
	if g.allowPrivate {
		return nil
	}
	a = a.Unmap().WithZone("")
	for _, p := range g.allow {
		if p.Contains(a) {
			return nil
		}
	}
	if Refused(a) {
		return fmt.Errorf("%w %s: %w", ErrRefusedAddress, a, ErrPermanent)
	}
	return nil
}

// control runs when a socket is about to connect, on the address actually
// dialed: whatever resolved the name, this is the last word (a name that
// resolves once to a public address and then to 127.0.0.1 is caught here).
func (g guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q: %w", ErrRefusedAddress, address, ErrPermanent)
	}
	return g.check(ap.Addr())
}

// NewClient returns an HTTP client for deliveries: it resolves each
// destination itself and refuses (with an error wrapping ErrPermanent and
// ErrRefusedAddress) addresses o does not allow, checked again on the socket
// at connect time; it uses no proxy and follows no redirect (a 3xx is the
// response).
func NewClient(o NetOptions) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	lookup := o.Lookup
	if lookup == nil {
		lookup = net.DefaultResolver.LookupNetIP
	}
	g := guard{allowPrivate: o.AllowPrivate, allow: o.Allow}
	dialer := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second, Control: g.control}
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		var addrs []netip.Addr
		if a, err := netip.ParseAddr(host); err == nil {
			addrs = []netip.Addr{a}
		} else if addrs, err = lookup(ctx, "ip", host); err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
		var errs []error
		for _, a := range addrs {
			if err := g.check(a); err != nil {
				errs = append(errs, err)
				continue
			}
			conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
			if err == nil {
				return conn, nil
			}
			errs = append(errs, err)
		}
		if len(errs) == 0 {
			return nil, fmt.Errorf("resolve %s: no address", host)
		}
		return nil, errors.Join(errs...)
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
	}
	return &http.Client{
		Transport:     &userAgent{next: tr, ua: o.UserAgent},
		Timeout:       o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type userAgent struct {
	next http.RoundTripper
	ua   string
}

func (u *userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("User-Agent") == "" {
		ua := u.ua
		if ua == "" {
			ua = "Understudy-Notify/1"
		}
		r = r.Clone(r.Context())
		r.Header.Set("User-Agent", ua)
	}
	return u.next.RoundTrip(r)
}

// HTTPError is a receiver's answer other than 2xx.
type HTTPError struct {
	Status int
	Body   string // the start of the body, for the admin view
}

func (e *HTTPError) Error() string {
	if e.Body == "" {
		return "HTTP " + strconv.Itoa(e.Status)
	}
	return "HTTP " + strconv.Itoa(e.Status) + ": " + e.Body
}

// Unwrap makes answers that retrying cannot fix permanent: 3xx (redirects
// are not followed) and 4xx but 408 and 429.
func (e *HTTPError) Unwrap() error {
	if e.Status < 400 && e.Status >= 300 || e.Status >= 400 && e.Status < 500 && e.Status != 408 && e.Status != 429 {
		return ErrPermanent
	}
	return nil
}

// maxErrorBody bounds what is kept of a failed response's body.
const maxErrorBody = 200

// postJSON posts body to rawURL with headers and succeeds on 2xx. Only http
// and https URLs are allowed. Errors never hold the URL: Slack and Teams
// URLs are secrets.
func postJSON(ctx context.Context, c *http.Client, rawURL string, body []byte, headers http.Header) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("notify: the address is not an http or https URL: %w", ErrPermanent)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify: %w: %w", err, ErrPermanent)
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop "Post <url>:"
		}
		return fmt.Errorf("notify: POST: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) // reuse the connection
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return &HTTPError{Status: resp.StatusCode, Body: string(bytes.ToValidUTF8(bytes.TrimSpace(snippet), nil))}
}
