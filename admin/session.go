package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/understudy/understudy"
)

const (
	sessionCookie = "understudy_session"
	signinCookie  = "understudy_signin" // CSRF token of the sign-in form
)

// session is one signed-in console user, as this request sees it.
type session struct {
	id      string // the cookie's value
	name    string
	scope   understudy.Scope
	hash    [32]byte // of the token signed in with, re-checked on each request
	csrf    string
	expires time.Time
}

// SessionStore keeps console sessions where every replica finds them (and
// a restart keeps them); *store.Store implements it. Options.Sessions nil:
// they live in this process's memory.
type SessionStore interface {
	CreateConsoleSession(ctx context.Context, s understudy.ConsoleSession, now time.Time) error
	// ConsoleSession returns the session unless it has expired by now; an
	// error for which Options.IsNotFound is true when there is none.
	ConsoleSession(ctx context.Context, idHash [32]byte, now time.Time) (understudy.ConsoleSession, error)
	DeleteConsoleSession(ctx context.Context, idHash [32]byte) error
}

// errNoSession is memSessions' not-found.
var errNoSession = errors.New("admin: no such session")

// memSessions is the in-memory SessionStore.
type memSessions struct {
	mu sync.Mutex
	m  map[[32]byte]understudy.ConsoleSession
}

func (s *memSessions) CreateConsoleSession(_ context.Context, cs understudy.ConsoleSession, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, old := range s.m {
		if !now.Before(old.Expires) {
			delete(s.m, id)
		}
	}
	s.m[cs.IDHash] = cs
	return nil
}

func (s *memSessions) ConsoleSession(_ context.Context, idHash [32]byte, now time.Time) (understudy.ConsoleSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.m[idHash]
	if !ok || !now.Before(cs.Expires) {
		return understudy.ConsoleSession{}, errNoSession
	}
	return cs, nil
}

func (s *memSessions) DeleteConsoleSession(_ context.Context, idHash [32]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, idHash)
	return nil
}

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// createSession signs p in: a new session in the store.
func (h *Handler) createSession(ctx context.Context, p principal) (session, error) {
	now := h.clock.Now()
	ss := session{id: randomID(), name: p.Name, scope: p.Scope, hash: p.hash, csrf: randomID(), expires: now.Add(sessionLifetime)}
	err := h.sessions.CreateConsoleSession(ctx, understudy.ConsoleSession{IDHash: sha256.Sum256([]byte(ss.id)), Name: ss.name,
		Scope: ss.scope, TokenHash: ss.hash, CSRF: ss.csrf, Expires: ss.expires}, now)
	return ss, err
}

// flashCookie carries a one-time notice, and a raw token just created, to
// the next page: in the browser, so that whichever replica serves that page
// shows it (never in the store, where tokens are only hashed).
const flashCookie = "understudy_flash"

type flash struct {
	Notice   string `json:"n,omitempty"`
	NewToken string `json:"t,omitempty"`
}

// setFlash leaves a notice (and a new raw token) for the next page.
func (h *Handler) setFlash(w http.ResponseWriter, f flash) {
	if f == (flash{}) {
		return
	}
	b, _ := json.Marshal(f)
	h.setCookie(w, flashCookie, base64.RawURLEncoding.EncodeToString(b), "/console/", 2*time.Minute)
}

// takeFlash reads and clears the notice left for this page.
func (h *Handler) takeFlash(w http.ResponseWriter, r *http.Request) flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return flash{}
	}
	h.clearCookie(w, flashCookie, "/console/")
	var f flash
	if b, err := base64.RawURLEncoding.DecodeString(c.Value); err == nil {
		_ = json.Unmarshal(b, &f)
	}
	return f
}

// sessionPrincipal authenticates a console request by its session cookie,
// and checks the token it signed in with still works.
func (h *Handler) sessionPrincipal(r *http.Request) (principal, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return principal{}, errUnknownToken
	}
	idHash := sha256.Sum256([]byte(c.Value))
	cs, err := h.sessions.ConsoleSession(r.Context(), idHash, h.clock.Now())
	if h.isNoSession(err) {
		return principal{}, errUnknownToken
	}
	if err != nil {
		return principal{}, err
	}
	ss := session{id: c.Value, name: cs.Name, scope: cs.Scope, hash: cs.TokenHash, csrf: cs.CSRF, expires: cs.Expires}
	p, err := h.lookup(r.Context(), ss.hash)
	if err != nil {
		if e := (*understudy.Error)(nil); errors.As(err, &e) && e.Code == understudy.EUNAUTHORIZED {
			if err := h.sessions.DeleteConsoleSession(r.Context(), idHash); err != nil {
				h.log.Warn("admin: forgetting a session", "err", err)
			}
		}
		return principal{}, err
	}
	p.sess = &ss
	return p, nil
}

// checkCSRF checks a console POST's csrf field against its session's.
func (h *Handler) checkCSRF(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	if p.sess == nil || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(p.sess.csrf)) != 1 {
		return understudy.Errorf(understudy.EFORBIDDEN, "the form's CSRF token is missing or stale: reload the page and try again")
	}
	return nil
}

// toSignin sends an unauthenticated console request to the sign-in page,
// back to where it was going after (GET only).
func (h *Handler) toSignin(w http.ResponseWriter, r *http.Request) {
	h.clearCookie(w, sessionCookie, "/console/")
	target := "/console/signin"
	if r.Method == http.MethodGet && r.URL.Path != "/console/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// localNext is next when it is a console path on this server, else the
// console's home: the sign-in never redirects elsewhere.
func localNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || u.User != nil ||
		!strings.HasPrefix(next, "/console/") || strings.ContainsAny(next, "\\\r\n") || strings.Contains(next, "//") {
		return "/console/"
	}
	return next
}

func (h *Handler) setCookie(w http.ResponseWriter, name, value, path string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode})
}

func (h *Handler) clearCookie(w http.ResponseWriter, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode})
}

type signinData struct {
	Next string
	CSRF string
}

// signinForm shows the sign-in form, with a CSRF token in a short-lived
// cookie (there is no session yet to hold it).
func (h *Handler) signinForm(w http.ResponseWriter, r *http.Request) {
	h.showSignin(w, r, http.StatusOK, localNext(r.URL.Query().Get("next")), "")
}

func (h *Handler) showSignin(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	csrf := randomID()
	h.setCookie(w, signinCookie, csrf, "/console/signin", time.Hour)
	h.render(w, r, status, "signin", "Sign in", signinData{Next: next, CSRF: csrf}, msg)
}

func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.consoleError(w, r, formError(err))
		return
	}
	next := localNext(r.PostFormValue("next"))
	c, err := r.Cookie(signinCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		h.showSignin(w, r, understudy.Errorf(understudy.EFORBIDDEN, "").HTTPStatus(), next, "The form expired: please sign in again.")
		return
	}
	raw := strings.TrimSpace(r.PostFormValue("token"))
	if raw == "" {
		h.showSignin(w, r, understudy.Errorf(understudy.EINVALID, "").HTTPStatus(), next, "Enter your admin token.")
		return
	}
	p, err := h.lookup(r.Context(), HashToken(raw))
	if err != nil {
		e := h.public(r, err)
		// The token typed is not echoed back: it is a secret.
		h.showSignin(w, r, e.HTTPStatus(), next, sentence(e.Message))
		return
	}
	ss, err := h.createSession(r.Context(), p)
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	h.touch(p.Name)
	h.clearCookie(w, signinCookie, "/console/signin")
	h.setCookie(w, sessionCookie, ss.id, "/console/", sessionLifetime)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) signout(w http.ResponseWriter, r *http.Request) {
	if p := principalFrom(r.Context()); p.sess != nil {
		if err := h.sessions.DeleteConsoleSession(r.Context(), sha256.Sum256([]byte(p.sess.id))); err != nil {
			h.consoleError(w, r, err)
			return
		}
	}
	h.clearCookie(w, sessionCookie, "/console/")
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
}

// formError is a form parsing error as the user sees it.
func formError(err error) error {
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return understudy.Errorf(understudy.ETOOLARGE, "the form is over %d bytes", mbe.Limit)
	}
	return understudy.Errorf(understudy.EINVALID, "invalid form: %v", err)
}

// sentence capitalises msg and ends it with a full stop.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	msg = strings.ToUpper(msg[:1]) + msg[1:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// isNoSession: err says the session does not exist (or has expired).
func (h *Handler) isNoSession(err error) bool {
	return err != nil && (errors.Is(err, errNoSession) || (h.isNotFound != nil && h.isNotFound(err)))
}
