package notify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/notify"
)

var update = flag.Bool("update", false, "rewrite the golden files and test vectors in testdata/")

// specSignature is the signature as README.md specifies it, written here
// from the spec and not with notify.Sign: lowercase hex of
// HMAC-SHA256(secret, id + "." + timestamp + "." + body).
func specSignature(secret, id, timestamp, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(id + "." + timestamp + "." + body))
	return hex.EncodeToString(m.Sum(nil))
}

// specVerify is an independent receiver following the spec: timestamp
// within tolerance, and one "v1=" signature of the header equal to the
// expected one under one of the secrets.
func specVerify(secrets []string, id, timestamp, body, header string, now time.Time, tolerance time.Duration) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return false
	}
	for _, f := range strings.Split(header, " ") {
		sig, ok := strings.CutPrefix(f, "v1=")
		if !ok {
			continue
		}
		for _, s := range secrets {
			if hmac.Equal([]byte(sig), []byte(specSignature(s, id, timestamp, body))) {
				return true
			}
		}
	}
	return false
}

// vector is one entry of testdata/signature_vectors.json: what a sender
// with SenderSecrets sends, and whether a receiver holding
// ReceiverSecrets at Now accepts it.
type vector struct {
	Name            string   `json:"name"`
	SenderSecrets   []string `json:"sender_secrets"`
	ID              string   `json:"id"`
	Timestamp       string   `json:"timestamp"`
	Body            string   `json:"body"`
	Header          string   `json:"header"` // X-Understudy-Signature as sent
	ReceivedBody    string   `json:"received_body"`
	ReceiverSecrets []string `json:"receiver_secrets"`
	Now             int64    `json:"now"` // the receiver's clock, unix seconds
	ToleranceSecs   int      `json:"tolerance_seconds"`
	Valid           bool     `json:"valid"`
	Error           string   `json:"error,omitempty"` // which check fails: timestamp, signature, no_signature
}

type vectorFile struct {
	Scheme  string   `json:"scheme"`
	Vectors []vector `json:"vectors"`
}

func vectors() vectorFile {
	const (
		cur   = "whsec_current_0123456789abcdef"
		prev  = "whsec_previous_fedcba9876543210"
		other = "whsec_someone_else"
		id    = "dlv_5f0c2a9e8b7d6c5f4e3d2c1b0a998877"
		ts    = "1767225600" // 2026-01-01T00:00:00Z
		body  = `{"meta":{"unsubscribe":"","documentation":""},"page":{"id":"understudy","status_indicator":"major","status_description":"Partial System Outage"}}`
	)
	at := int64(1767225600)
	v := func(name string, send []string, receive []string, now int64, valid bool, errName string) vector {
		return vector{Name: name, SenderSecrets: send, ID: id, Timestamp: ts, Body: body, ReceivedBody: body,
			ReceiverSecrets: receive, Now: now, ToleranceSecs: 300, Valid: valid, Error: errName}
	}
	vs := []vector{
		v("valid", []string{cur}, []string{cur}, at+10, true, ""),
		v("rotation: both signatures, receiver has the new secret", []string{cur, prev}, []string{cur}, at, true, ""),
		v("rotation: both signatures, receiver still has the old secret", []string{cur, prev}, []string{prev}, at, true, ""),
		v("rotation: receiver accepts old and new, sender still on the old one", []string{prev}, []string{cur, prev}, at, true, ""),
		v("tampered body", []string{cur}, []string{cur}, at, false, "signature"),
		v("timestamp too old", []string{cur}, []string{cur}, at+301, false, "timestamp"),
		v("timestamp on the tolerance edge", []string{cur}, []string{cur}, at+300, true, ""),
		v("timestamp in the future", []string{cur}, []string{cur}, at-301, false, "timestamp"),
		v("unknown secret", []string{other}, []string{cur, prev}, at, false, "signature"),
		v("no v1 signature", nil, []string{cur}, at, false, "no_signature"),
	}
	for i := range vs {
		var sigs []string
		for _, s := range vs[i].SenderSecrets {
			sigs = append(sigs, "v1="+specSignature(s, id, ts, body))
		}
		vs[i].Header = strings.Join(sigs, " ")
		if vs[i].Name == "no v1 signature" {
			vs[i].Header = "v0=" + specSignature(cur, id, ts, body)
		}
		if vs[i].Name == "tampered body" {
			vs[i].ReceivedBody = strings.Replace(body, "major", "minor", 1)
		}
	}
	return vectorFile{
		Scheme:  `X-Understudy-Signature: "v1=" + hex(HMAC-SHA256(secret, id + "." + timestamp + "." + body)), one per secret, space-separated; id = X-Understudy-Webhook-Id, timestamp = X-Understudy-Webhook-Timestamp (unix seconds)`,
		Vectors: vs,
	}
}

func TestSignatureVectors(t *testing.T) {
	path := filepath.Join("testdata", "signature_vectors.json")
	want := vectors()
	if *update {
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read vectors (run with -update to write them): %v", err)
	}
	var file vectorFile
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatalf("vectors: %v", err)
	}
	if len(file.Vectors) != len(want.Vectors) {
		t.Fatalf("got %d vectors, want %d", len(file.Vectors), len(want.Vectors))
	}
	bytesOf := func(ss []string) [][]byte {
		var out [][]byte
		for _, s := range ss {
			out = append(out, []byte(s))
		}
		return out
	}
	for i, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			// The file agrees with the spec as written in this test.
			if v.Header != want.Vectors[i].Header {
				t.Errorf("vector header: got %q, want %q from the spec", v.Header, want.Vectors[i].Header)
			}
			// The sender: Sign writes the header in the file.
			if len(v.SenderSecrets) > 0 {
				if got := notify.Sign(bytesOf(v.SenderSecrets), v.ID, v.Timestamp, []byte(v.Body)); got != v.Header {
					t.Errorf("Sign: got %q, want %q", got, v.Header)
				}
			}
			now, tol := time.Unix(v.Now, 0), time.Duration(v.ToleranceSecs)*time.Second
			// The independent receiver.
			if got := specVerify(v.ReceiverSecrets, v.ID, v.Timestamp, v.ReceivedBody, v.Header, now, tol); got != v.Valid {
				t.Errorf("spec verifier: got valid %v, want %v", got, v.Valid)
			}
			// Verify.
			err := notify.Verify(bytesOf(v.ReceiverSecrets), v.ID, v.Timestamp, []byte(v.ReceivedBody), v.Header, now, tol)
			wantErr := map[string]error{"": nil, "timestamp": notify.ErrTimestamp, "signature": notify.ErrBadSignature,
				"no_signature": notify.ErrNoSignature}[v.Error]
			if (err == nil) != v.Valid || (wantErr != nil && !errors.Is(err, wantErr)) {
				t.Errorf("Verify: got %v, want valid %v (error %v)", err, v.Valid, wantErr)
			}
		})
	}
}

func TestVerifyDefaultTolerance(t *testing.T) {
	secret := [][]byte{[]byte("s")}
	at := time.Unix(1767225600, 0)
	ts := strconv.FormatInt(at.Unix(), 10)
	h := notify.Sign(secret, "id", ts, []byte("{}"))
	tests := []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"4m59s late", at.Add(4*time.Minute + 59*time.Second), true},
		{"5m1s late", at.Add(5*time.Minute + time.Second), false},
		{"5m1s early", at.Add(-5*time.Minute - time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := notify.Verify(secret, "id", ts, []byte("{}"), h, tt.now, 0)
			if (err == nil) != tt.ok {
				t.Errorf("got %v, want ok %v", err, tt.ok)
			}
		})
	}
	if err := notify.Verify(secret, "id", "yesterday", []byte("{}"), h, at, 0); !errors.Is(err, notify.ErrTimestamp) {
		t.Errorf("non-numeric timestamp: got %v, want ErrTimestamp", err)
	}
	if err := notify.Verify(secret, "other-id", ts, []byte("{}"), h, at, 0); !errors.Is(err, notify.ErrBadSignature) {
		t.Errorf("tampered id: got %v, want ErrBadSignature", err)
	}
}
