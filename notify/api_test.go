package notify_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/notify"
	"github.com/understudy/understudy/store"
)

// adminMux mounts the admin routes as the admin package does: errors that
// are *understudy.Error are written with their HTTPStatus, others are 500.
func adminMux(d *notify.Dispatcher) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range d.AdminRoutes() {
		mux.HandleFunc(rt.Method+" /admin/v1/"+rt.Pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := rt.Handler(w, r); err != nil {
				var e *understudy.Error
				if !errors.As(err, &e) {
					e = &understudy.Error{Code: understudy.EINTERNAL, Message: "internal error"}
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(e.HTTPStatus())
				_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
					"code": e.Code, "message": e.Message, "param": e.Param}})
			}
		})
	}
	return mux
}

func TestAdminAPI(t *testing.T) {
	h := newHarness(t, notify.Options{IsExists: func(err error) bool { return errors.Is(err, store.ErrExists) }})
	mux := adminMux(h.d)
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, path, rec.Body, err)
		}
		return rec.Code, out
	}
	slack := `{"kind":"slack","address":"https://hooks.slack.com/services/T0/B0/SECRET","components":["provider:openai","assistant","assistant"]}`
	tests := []struct {
		name, method, path, body string
		status                   int
		check                    func(t *testing.T, out map[string]any)
	}{
		{"create", "POST", "/admin/v1/subscribers", slack, 201, func(t *testing.T, out map[string]any) {
			if out["address"] != "https://hooks.slack.com/…" || out["status"] != "active" || out["language"] != "en" ||
				out["last_error"] != "" || out["created_at"] != "2026-03-14T09:00:00Z" {
				t.Errorf("got %v", out)
			}
			if comps, _ := json.Marshal(out["components"]); string(comps) != `["assistant","provider:openai"]` {
				t.Errorf("components: got %s, want sorted and unique", comps)
			}
		}},
		{"create e-mail, french, pending", "POST", "/admin/v1/subscribers",
			`{"kind":"email","address":"ops@example.com","language":"fr","status":"pending"}`, 201,
			func(t *testing.T, out map[string]any) {
				if out["address"] != "ops@example.com" || out["language"] != "fr" || out["status"] != "pending" {
					t.Errorf("got %v", out)
				}
			}},
		{"duplicate", "POST", "/admin/v1/subscribers", slack, 409, wantError(understudy.ECONFLICT, "address")},
		{"unknown kind", "POST", "/admin/v1/subscribers", `{"kind":"sms","address":"+33"}`, 400, wantError(understudy.EINVALID, "kind")},
		{"missing address", "POST", "/admin/v1/subscribers", `{"kind":"webhook"}`, 400, wantError(understudy.EINVALID, "address")},
		{"not a URL", "POST", "/admin/v1/subscribers", `{"kind":"webhook","address":"file:///etc/passwd"}`, 400,
			wantError(understudy.EINVALID, "address")},
		{"not an e-mail", "POST", "/admin/v1/subscribers", `{"kind":"email","address":"nobody"}`, 400,
			wantError(understudy.EINVALID, "address")},
		{"bad language", "POST", "/admin/v1/subscribers", `{"kind":"webhook","address":"https://x.example","language":"de"}`, 400,
			wantError(understudy.EINVALID, "language")},
		{"bad status", "POST", "/admin/v1/subscribers", `{"kind":"webhook","address":"https://x.example","status":"failing"}`, 400,
			wantError(understudy.EINVALID, "status")},
		{"empty component", "POST", "/admin/v1/subscribers", `{"kind":"webhook","address":"https://x.example","components":[""]}`, 400,
			wantError(understudy.EINVALID, "components")},
		{"wrong type", "POST", "/admin/v1/subscribers", `{"kind":"webhook","address":"https://x.example","components":"all"}`, 400,
			wantError(understudy.EINVALID, "components")},
		{"unknown field", "POST", "/admin/v1/subscribers", `{"kind":"webhook","address":"https://x.example","secret":"x"}`, 400,
			wantError(understudy.EINVALID, "")},
		{"list", "GET", "/admin/v1/subscribers", "", 200, func(t *testing.T, out map[string]any) {
			if subs, _ := out["subscribers"].([]any); len(subs) != 2 {
				t.Errorf("got %v, want 2 subscribers", out)
			}
		}},
		{"list by kind", "GET", "/admin/v1/subscribers?kind=email", "", 200, func(t *testing.T, out map[string]any) {
			if subs, _ := out["subscribers"].([]any); len(subs) != 1 {
				t.Errorf("got %v, want the e-mail subscriber", out)
			}
		}},
		{"list by bad status", "GET", "/admin/v1/subscribers?status=gone", "", 400, wantError(understudy.EINVALID, "status")},
		{"delete unknown", "DELETE", "/admin/v1/subscribers/999", "", 404, wantError(understudy.ENOTFOUND, "")},
		{"delete bad id", "DELETE", "/admin/v1/subscribers/x", "", 400, wantError(understudy.EINVALID, "id")},
		{"deliveries", "GET", "/admin/v1/deliveries?subscriber_id=1&status=pending&limit=5", "", 200,
			func(t *testing.T, out map[string]any) {
				ds, _ := out["deliveries"].([]any)
				if len(ds) != 1 {
					t.Fatalf("got %v, want one delivery", out)
				}
				d := ds[0].(map[string]any)
				if d["notification_id"] != "component:provider:openai:7" || d["status"] != "pending" ||
					d["attempts"] != 0.0 || d["next_attempt_at"] != "2026-03-14T09:00:00Z" {
					t.Errorf("got %v", d)
				}
				if _, ok := d["payload"]; ok {
					t.Errorf("got a payload in the admin view")
				}
			}},
		{"deliveries bad limit", "GET", "/admin/v1/deliveries?limit=0", "", 400, wantError(understudy.EINVALID, "limit")},
		{"deliveries bad status", "GET", "/admin/v1/deliveries?status=lost", "", 400, wantError(understudy.EINVALID, "status")},
		{"delete", "DELETE", "/admin/v1/subscribers/1", "", 200, func(t *testing.T, out map[string]any) {
			if out["id"] != 1.0 || out["kind"] != "slack" {
				t.Errorf("got %v, want the deleted subscriber", out)
			}
		}},
		{"deliveries gone with it", "GET", "/admin/v1/deliveries", "", 200, func(t *testing.T, out map[string]any) {
			if ds, _ := out["deliveries"].([]any); len(ds) != 0 {
				t.Errorf("got %v, want none", out)
			}
		}},
	}
	for _, tt := range tests { // sequential: each step builds on the previous
		if tt.name == "deliveries" {
			h.notify(componentNote())
		}
		status, out := do(tt.method, tt.path, tt.body)
		if status != tt.status {
			t.Errorf("%s: got status %d, want %d: %v", tt.name, status, tt.status, out)
			continue
		}
		t.Run(tt.name, func(t *testing.T) { tt.check(t, out) })
	}
}

func wantError(code, param string) func(t *testing.T, out map[string]any) {
	return func(t *testing.T, out map[string]any) {
		t.Helper()
		e, _ := out["error"].(map[string]any)
		if e["code"] != code || e["param"] != param || e["message"] == "" {
			t.Errorf("got %v, want error %s on %q", out, code, param)
		}
		if param != "" && !strings.Contains(e["message"].(string), param) {
			t.Errorf("message %q does not name the field %q", e["message"], param)
		}
	}
}
