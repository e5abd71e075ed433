package email

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// Token purposes. A token made for one is refused for any other.
const (
	PurposeConfirm     = "confirm"
	PurposeUnsubscribe = "unsubscribe"
)

// Token errors.
var (
	ErrTokenInvalid = errors.New("email: invalid token")
	ErrTokenExpired = errors.New("email: token expired")
)

// MinSecret is the shortest Tokens.Secret accepted, in bytes.
const MinSecret = 16

// Tokens signs the tokens that confirmation and unsubscribe links carry, so
// that no table of pending tokens is needed: a token says which subscriber,
// until when, and for what, and only the holder of Secret can make one.
//
// A token is base64url (no padding) of subscriber ID (8 bytes, big-endian),
// expiry (Unix seconds, 8 bytes) and HMAC-SHA256 over the purpose and those
// 16 bytes: 64 characters.
type Tokens struct {
	// Secret is the HMAC key: at least MinSecret random bytes, from the
	// environment. Changing it invalidates every token out there.
	Secret []byte
}

const (
	tokenPayload = 16
	tokenLen     = tokenPayload + sha256.Size
)

// Make returns a token for purpose and subscriberID that expires at
// expires (to the second). It panics when Secret is shorter than MinSecret:
// tokens signed with it could be forged.
func (t Tokens) Make(purpose string, subscriberID int64, expires time.Time) string {
	if len(t.Secret) < MinSecret {
		panic("email: Tokens.Secret is shorter than MinSecret")
	}
	b := make([]byte, tokenPayload, tokenLen)
	binary.BigEndian.PutUint64(b[0:8], uint64(subscriberID))
	binary.BigEndian.PutUint64(b[8:16], uint64(expires.Unix()))
	b = append(b, t.mac(purpose, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Check returns the subscriber ID token was made for, when token was made
// with Secret for purpose and has not expired at now. A forged, altered or
// other-purpose token is ErrTokenInvalid; a genuine one past its expiry is
// ErrTokenExpired.
func (t Tokens) Check(purpose, token string, now time.Time) (int64, error) {
	if len(t.Secret) < MinSecret {
		return 0, errors.New("email: Tokens.Secret is shorter than MinSecret")
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != tokenLen {
		return 0, ErrTokenInvalid
	}
	if !hmac.Equal(b[tokenPayload:], t.mac(purpose, b[:tokenPayload])) {
		return 0, ErrTokenInvalid
	}
	expires := time.Unix(int64(binary.BigEndian.Uint64(b[8:16])), 0)
	if !now.Before(expires) {
		return 0, ErrTokenExpired
	}
	return int64(binary.BigEndian.Uint64(b[0:8])), nil
}

// mac is HMAC-SHA256 over a domain label, the purpose (length-prefixed, so
// no purpose is a prefix of another) and the payload.
func (t Tokens) mac(purpose string, payload []byte) []byte {
	h := hmac.New(sha256.New, t.Secret)
	h.Write([]byte("understudy/notify/email token v1\x00"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(purpose)))
	h.Write(n[:])
	h.Write([]byte(purpose))
	h.Write(payload)
	return h.Sum(nil)
}
