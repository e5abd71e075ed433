package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Webhook signature headers. See README.md, "Verifying webhooks".
const (
	HeaderWebhookID = "X-Understudy-Webhook-Id"
	HeaderTimestamp = "X-Understudy-Webhook-Timestamp"
	HeaderSignature = "X-Understudy-Signature"
)

// DefaultTolerance is how far a webhook's timestamp may be from the
// receiver's clock, either way, when Verify's tolerance is 0.
const DefaultTolerance = 5 * time.Minute

// Verification failures; Verify's errors wrap one of them.
var (
	ErrNoSignature  = errors.New("notify: no v1 signature")
	ErrBadSignature = errors.New("notify: no signature matches")
	ErrTimestamp    = errors.New("notify: timestamp outside the tolerance")
)

// signature is the hex HMAC-SHA256 of id "." timestamp "." body under secret.
func signature(secret []byte, id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	sum := m.Sum(nil)
	out := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(out, sum)
	return out
}

// Sign returns the X-Understudy-Signature value for a webhook: "v1=<hex>"
// for each secret, in order (current first, then the previous one during a
// rotation), separated by spaces.
func Sign(secrets [][]byte, id, timestamp string, body []byte) string {
	parts := make([]string, 0, len(secrets))
	for _, s := range secrets {
		parts = append(parts, "v1="+string(signature(s, id, timestamp, body)))
	}
	return strings.Join(parts, " ")
}

// Verify checks a received webhook: header is the X-Understudy-Signature
// value, id and timestamp the X-Understudy-Webhook-Id and
// X-Understudy-Webhook-Timestamp values, body the raw request body. It
// succeeds when the timestamp (unix seconds) is within tolerance of now
// (DefaultTolerance when 0), either way, and one of the header's v1
// signatures matches one of secrets (list the current and the previous
// secret during a rotation). Unknown schemes in the header are ignored.
func Verify(secrets [][]byte, id, timestamp string, body []byte, header string, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not unix seconds", ErrTimestamp, timestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s away from now, tolerance %s", ErrTimestamp, d.Round(time.Second), tolerance)
	}
	var sigs [][]byte
	for _, f := range strings.Fields(header) {
		if v, ok := strings.CutPrefix(f, "v1="); ok {
			sigs = append(sigs, []byte(strings.ToLower(v)))
		}
	}
	if len(sigs) == 0 {
		return ErrNoSignature
	}
	for _, secret := range secrets {
		want := signature(secret, id, timestamp, body)
		for _, got := range sigs {
			if hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrBadSignature
}
