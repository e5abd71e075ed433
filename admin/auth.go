package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/understudy/understudy"
)

// principal is who a request acts as: a token's name and scope.
type principal struct {
	Name  string
	Scope understudy.Scope
	hash  [32]byte
	sess  *session // console requests only: a copy of the session
}

type principalKey struct{}

func principalFrom(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

var errUnknownToken = understudy.Errorf(understudy.EUNAUTHORIZED, "unknown or revoked token")

// GenerateToken returns a new raw token: "us_" and 32 random bytes in
// base64url.
func GenerateToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("admin: generate token: %w", err)
	}
	return "us_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken is what is stored of a raw token: its SHA-256.
func HashToken(raw string) [32]byte { return sha256.Sum256([]byte(raw)) }

// auth is the one middleware in front of every route: it limits the body,
// authenticates (bearer token for the API, session for the console),
// checks the console's CSRF token on POST and the route's scope, and
// records the token's use.
func (h *Handler) auth(rt Route, next http.Handler) http.Handler {
	console := isConsole(rt.Pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if rt.Scope == ScopePublic {
			next.ServeHTTP(w, r)
			return
		}
		var p principal
		var err error
		if console {
			p, err = h.sessionPrincipal(r)
		} else {
			p, err = h.bearerPrincipal(r)
		}
		if err == nil && console && r.Method == http.MethodPost {
			err = h.checkCSRF(w, r, p)
		}
		if err == nil && !p.Scope.Allows(rt.Scope) {
			err = understudy.Errorf(understudy.EFORBIDDEN, "this needs %s scope; token %q has %s scope", rt.Scope, p.Name, p.Scope)
		}
		if err != nil {
			if !console {
				h.writeError(w, r, err)
				return
			}
			if e := (*understudy.Error)(nil); errors.As(err, &e) && e.Code == understudy.EUNAUTHORIZED {
				h.toSignin(w, r)
				return
			}
			h.consoleError(w, r, err)
			return
		}
		h.touch(p.Name)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func (h *Handler) bearerPrincipal(r *http.Request) (principal, error) {
	v := r.Header.Get("Authorization")
	if v == "" {
		return principal{}, understudy.Errorf(understudy.EUNAUTHORIZED, "missing token: send Authorization: Bearer <token>")
	}
	scheme, raw, _ := strings.Cut(v, " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return principal{}, understudy.Errorf(understudy.EUNAUTHORIZED, `the Authorization header must be "Bearer <token>"`)
	}
	return h.lookup(r.Context(), HashToken(raw))
}

// lookup finds the valid token with hash: the bootstrap token or a stored,
// unrevoked one.
func (h *Handler) lookup(ctx context.Context, hash [32]byte) (principal, error) {
	if h.bootstrap != nil && subtle.ConstantTimeCompare(hash[:], h.bootstrap[:]) == 1 {
		return principal{Name: BootstrapName, Scope: understudy.ScopeAdmin, hash: hash}, nil
	}
	if h.tokens == nil {
		return principal{}, errUnknownToken
	}
	t, err := h.tokens.TokenByHash(ctx, hash)
	if err != nil {
		if h.isNotFound(err) {
			return principal{}, errUnknownToken
		}
		return principal{}, fmt.Errorf("admin: look up token: %w", err)
	}
	if !t.RevokedAt.IsZero() {
		return principal{}, errUnknownToken
	}
	return principal{Name: t.Name, Scope: t.Scope, hash: hash}, nil
}

// touch records that the token called name was used, at most once a
// minute per token, off the request path: a slow store delays nobody.
func (h *Handler) touch(name string) {
	if h.tokens == nil || name == BootstrapName {
		return
	}
	now := h.clock.Now()
	h.touchMu.Lock()
	if last, ok := h.touched[name]; ok && now.Sub(last) < touchEvery {
		h.touchMu.Unlock()
		return
	}
	h.touched[name] = now
	h.touchMu.Unlock()
	h.touchWG.Add(1)
	go func() {
		defer h.touchWG.Done()
		ctx, cancel := context.WithTimeout(context.Background(), touchTimeout)
		defer cancel()
		if err := h.tokens.TouchToken(ctx, name, now); err != nil {
			h.log.Warn("admin: recording token use failed", "token", name, "err", err)
		}
	}()
}
