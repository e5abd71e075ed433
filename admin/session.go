package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
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

// session is one signed-in console user. Sessions live in memory: a
// restart signs everyone out.
type session struct {
	id      string
	name    string
	scope   understudy.Scope
	hash    [32]byte // of the token signed in with, re-checked on each request
	csrf    string
	expires time.Time
	// flash is a one-time notice for the next page; newToken a raw token
	// just created, shown once.
	flash, newToken string
}

type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(p principal, now time.Time) session {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, old := range s.m {
		if !now.Before(old.expires) {
			delete(s.m, id)
		}
	}
	ss := &session{id: randomID(), name: p.Name, scope: p.Scope, hash: p.hash, csrf: randomID(), expires: now.Add(sessionLifetime)}
	s.m[ss.id] = ss
	return *ss
}

// get returns a copy of the live session id.
func (s *sessions) get(id string, now time.Time) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[id]
	if !ok {
		return session{}, false
	}
	if !now.Before(ss.expires) {
		delete(s.m, id)
		return session{}, false
	}
	return *ss, true
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// setFlash leaves a notice (and a new raw token) for the next page.
func (s *sessions) setFlash(id, flash, newToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.m[id]; ok {
		ss.flash, ss.newToken = flash, newToken
	}
}

// takeFlash returns and forgets the notice and new token.
func (s *sessions) takeFlash(id string) (flash, newToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.m[id]; ok {
		flash, newToken = ss.flash, ss.newToken
		ss.flash, ss.newToken = "", ""
	}
	return flash, newToken
}

// sessionPrincipal authenticates a console request by its session cookie,
// and checks the token it signed in with still works.
func (h *Handler) sessionPrincipal(r *http.Request) (principal, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return principal{}, errUnknownToken
	}
	ss, ok := h.sessions.get(c.Value, h.clock.Now())
	if !ok {
		return principal{}, errUnknownToken
	}
	p, err := h.lookup(r.Context(), ss.hash)
	if err != nil {
		if e := (*understudy.Error)(nil); errors.As(err, &e) && e.Code == understudy.EUNAUTHORIZED {
			h.sessions.delete(ss.id)
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
	ss := h.sessions.create(p, h.clock.Now())
	h.touch(p.Name)
	h.clearCookie(w, signinCookie, "/console/signin")
	h.setCookie(w, sessionCookie, ss.id, "/console/", sessionLifetime)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) signout(w http.ResponseWriter, r *http.Request) {
	if p := principalFrom(r.Context()); p.sess != nil {
		h.sessions.delete(p.sess.id)
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
