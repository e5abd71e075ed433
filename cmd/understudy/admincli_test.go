package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/admin"
	"github.com/understudy/understudy/admin/admintest"
)

const (
	cliAdmin    = "us_cli-admin"
	cliOperator = "us_cli-operator"
	cliAgent    = "us_cli-agent"
)

// adminServer serves the admin API over an in-memory engine seeded with
// incident 1 (open), 2 (resolved), 3 (open) and maintenance 10.
func adminServer(t *testing.T) (*httptest.Server, *admintest.Service) {
	t.Helper()
	svc := admintest.NewService()
	t0 := time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)
	svc.AddIncident(understudy.Incident{ID: 1, Title: "OpenAI errors", Status: understudy.IncidentIdentified, Severity: understudy.SeverityMajor,
		Cause: understudy.CauseTechnical, Components: []string{"assistant", "provider:openai"}, Detector: "target_down", StartedAt: t0,
		Evidence: understudy.Evidence{Classes: map[understudy.Class]int64{understudy.ClassServer: 42}, Targets: []string{"openai/gpt-4o-mini"},
			Signals: []string{"route assistant: 42% of 50 requests failed"}},
		Updates: []understudy.IncidentUpdate{{ID: 100, Status: understudy.IncidentInvestigating, Severity: understudy.SeverityMajor,
			Message: "Looking into it.", Author: "understudy", CreatedAt: t0}}})
	svc.AddEvent(1, understudy.Event{Time: t0, Type: understudy.EventIncidentOpened, Author: "understudy", Message: "opened by target_down"})
	svc.AddIncident(understudy.Incident{ID: 2, Title: "Old one", Status: understudy.IncidentResolved, Severity: understudy.SeverityMinor, Cause: understudy.CauseOverload})
	svc.AddIncident(understudy.Incident{ID: 3, Title: "Slow answers", Status: understudy.IncidentInvestigating, Severity: understudy.SeverityMinor, Cause: understudy.CauseOverload})
	svc.AddMaintenance(understudy.Maintenance{ID: 10, Title: "Key rotation", Status: understudy.MaintenanceScheduled,
		Targets: []string{"openai/gpt-4o-mini"}, StartsAt: t0.Add(time.Hour), EndsAt: t0.Add(2 * time.Hour)})
	tokens := admintest.NewTokens()
	tokens.Add("ops-admin", understudy.ScopeAdmin, cliAdmin)
	tokens.Add("ops", understudy.ScopeOperator, cliOperator)
	tokens.Add("helpdesk", understudy.ScopeAgent, cliAgent)
	h, err := admin.New(admin.Options{Service: svc, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); _ = h.Close() })
	return srv, svc
}

func TestAdminCLI(t *testing.T) {
	tests := []struct {
		name     string
		token    string
		args     []string
		wantOut  []string
		wantErr  string // substring of the error; "" for none
		wantCode int    // exit code when wantErr is set
	}{
		{name: "incident list", token: cliAgent, args: []string{"incident", "list"},
			wantOut: []string{"ID  STATUS         SEVERITY  CAUSE      COMPONENTS                 STARTED           TITLE",
				"1   identified     major     technical  assistant,provider:openai  2026-03-01 14:00  OpenAI errors", "Old one"}},
		{name: "incident list open", token: cliAgent, args: []string{"incident", "list", "-open"}, wantOut: []string{"OpenAI errors", "Slow answers"}},
		{name: "incident show", token: cliAgent, args: []string{"incident", "show", "1"},
			wantOut: []string{"Incident #1: OpenAI errors", "Status:      identified", "Detected:    - by target_down", "Error classes:     server_error 42",
				"Targets:           openai/gpt-4o-mini", "    - route assistant: 42% of 50 requests failed",
				"Updates\n  2026-03-01 14:00  investigating, major, by understudy\n    Looking into it.",
				"Timeline\n  TIME              EVENT            AUTHOR      MESSAGE\n  2026-03-01 14:00  incident.opened  understudy  opened by target_down"}},
		{name: "incident show json", token: cliAgent, args: []string{"incident", "show", "-json", "1"}, wantOut: []string{`"id": 1,`, `"timeline": [`}},
		{name: "incident show unknown", token: cliAgent, args: []string{"incident", "show", "99"}, wantErr: "no incident #99 (HTTP 404)", wantCode: 1},
		{name: "incident show not an id", token: cliAgent, args: []string{"incident", "show", "abc"}, wantErr: `"abc" is not an id`, wantCode: 2},
		{name: "incident show no id", token: cliAgent, args: []string{"incident", "show"}, wantErr: "usage", wantCode: 2},
		{name: "incident create", token: cliOperator, args: []string{"incident", "create", "-title", "Groq down", "-severity", "critical",
			"-cause", "technical", "-components", "provider:groq, assistant", "-message", "Investigating."},
			wantOut: []string{"opened incident #11: Groq down (critical, investigating)"}},
		{name: "incident create bad severity", token: cliOperator, args: []string{"incident", "create", "-title", "x", "-severity", "huge", "-message", "m"},
			wantErr: `severity: "huge" is not one of minor, major, critical (HTTP 400)`, wantCode: 1},
		{name: "incident create as agent", token: cliAgent, args: []string{"incident", "create", "-title", "x", "-severity", "minor", "-message", "m"},
			wantErr: "this needs operator scope", wantCode: 1},
		{name: "incident update", token: cliOperator, args: []string{"incident", "update", "1", "-message", "Fix deployed.", "-status", "monitoring",
			"-severity", "minor", "-eta", "2026-03-01T15:00:00Z"}, wantOut: []string{"posted an update to incident #1 (monitoring, minor)"}},
		{name: "incident update relative eta", token: cliOperator, args: []string{"incident", "update", "-eta", "30m", "-message", "Soon.", "1"},
			wantOut: []string{"posted an update to incident #1"}},
		{name: "incident update bad eta", token: cliOperator, args: []string{"incident", "update", "1", "-message", "m", "-eta", "soonish"},
			wantErr: `-eta: "soonish" is not an RFC 3339 time`, wantCode: 1},
		{name: "incident update resolved", token: cliOperator, args: []string{"incident", "update", "2", "-message", "m"},
			wantErr: "incident #2 is resolved: reopen it first (HTTP 409)", wantCode: 1},
		{name: "incident resolve", token: cliOperator, args: []string{"incident", "resolve", "3", "-message", "Fixed."}, wantOut: []string{"incident #3 is resolved"}},
		{name: "incident resolve resolved", token: cliOperator, args: []string{"incident", "resolve", "2"}, wantErr: "already resolved (HTTP 409)", wantCode: 1},
		{name: "incident reopen", token: cliOperator, args: []string{"incident", "reopen", "2"}, wantOut: []string{"incident #2 is investigating"}},
		{name: "incident merge", token: cliOperator, args: []string{"incident", "merge", "3", "1"}, wantOut: []string{"merged incident #3 into #1: OpenAI errors"}},
		{name: "incident merge into resolved", token: cliOperator, args: []string{"incident", "merge", "3", "2"}, wantErr: "HTTP 409", wantCode: 1},
		{name: "incident unknown subcommand", token: cliOperator, args: []string{"incident", "delete", "1"}, wantErr: "usage", wantCode: 2},

		{name: "maintenance list", token: cliAgent, args: []string{"maintenance", "list", "-active"},
			wantOut: []string{"ID  STATUS     STARTS            ENDS              COMPONENTS  TARGETS             TITLE",
				"10  scheduled  2026-03-01 15:00  2026-03-01 16:00  -           openai/gpt-4o-mini  Key rotation"}},
		{name: "maintenance schedule", token: cliOperator, args: []string{"maintenance", "schedule", "-title", "Upgrade", "-start", "2030-01-01T10:00:00Z",
			"-duration", "90m", "-targets", "local/llama", "-message", "Moving."},
			wantOut: []string{"scheduled maintenance #11: Upgrade, 2030-01-01 10:00 to 2030-01-01 11:30"}},
		{name: "maintenance schedule end", token: cliOperator, args: []string{"maintenance", "schedule", "-title", "Upgrade", "-start", "2030-01-01T10:00:00Z",
			"-end", "2030-01-01T12:00:00Z", "-components", "assistant"}, wantOut: []string{"to 2030-01-01 12:00"}},
		{name: "maintenance schedule no end", token: cliOperator, args: []string{"maintenance", "schedule", "-title", "Upgrade", "-start", "now"},
			wantErr: "usage", wantCode: 2},
		{name: "maintenance cancel", token: cliOperator, args: []string{"maintenance", "cancel", "10"}, wantOut: []string{"maintenance #10 is canceled"}},
		{name: "maintenance cancel unknown", token: cliOperator, args: []string{"maintenance", "cancel", "99"}, wantErr: "no maintenance #99 (HTTP 404)", wantCode: 1},

		{name: "token list", token: cliAdmin, args: []string{"token", "list"},
			wantOut: []string{"NAME       SCOPE     CREATED", "helpdesk   agent", "ops-admin  admin"}},
		{name: "token list as operator", token: cliOperator, args: []string{"token", "list"}, wantErr: "this needs admin scope", wantCode: 1},
		{name: "token create", token: cliAdmin, args: []string{"token", "create", "-name", "bot", "-scope", "agent"},
			wantOut: []string{`created token "bot" with agent scope; it is shown only this once:`, "us_"}},
		{name: "token create bad scope", token: cliAdmin, args: []string{"token", "create", "-name", "bot", "-scope", "root"},
			wantErr: `scope: "root" is not one of admin, operator, agent`, wantCode: 1},
		{name: "token revoke", token: cliAdmin, args: []string{"token", "revoke", "helpdesk"}, wantOut: []string{`revoked token "helpdesk"`}},
		{name: "token revoke unknown", token: cliAdmin, args: []string{"token", "revoke", "nobody"}, wantErr: `no token called "nobody" (HTTP 404)`, wantCode: 1},

		{name: "no token", args: []string{"incident", "list"}, wantErr: "no token: set UNDERSTUDY_TOKEN", wantCode: 1},
		{name: "wrong token", token: "us_wrong", args: []string{"incident", "list"},
			wantErr: "the server refused the token (unknown or revoked token): set UNDERSTUDY_TOKEN", wantCode: 1},
		{name: "help", token: cliAgent, args: []string{"incident", "list", "-h"}, wantOut: []string{"usage: understudy incident list", "-open", "-server"}, wantErr: "help", wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := adminServer(t)
			env := map[string]string{"UNDERSTUDY_SERVER": srv.URL, "UNDERSTUDY_TOKEN": tt.token}
			var out bytes.Buffer
			err := run(context.Background(), tt.args, func(k string) string { return env[k] }, &out, &out)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got error %v, want none\n%s", err, out.String())
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got error %v, want one containing %q\n%s", err, tt.wantErr, out.String())
			case tt.wantErr != "" && exitCode(err) != tt.wantCode:
				t.Errorf("got exit code %d, want %d", exitCode(err), tt.wantCode)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output does not contain %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestAdminCLITokenOnStdout(t *testing.T) {
	srv, _ := adminServer(t)
	env := map[string]string{"UNDERSTUDY_TOKEN": cliAdmin}
	var stdout, stderr bytes.Buffer
	// -server wins over $UNDERSTUDY_SERVER (unset here).
	if err := run(context.Background(), []string{"token", "create", "-server", srv.URL + "/", "-name", "bot", "-scope", "operator"},
		func(k string) string { return env[k] }, &stdout, &stderr); err != nil {
		t.Fatal(err, stderr.String())
	}
	raw := strings.TrimSpace(stdout.String())
	if !strings.HasPrefix(raw, "us_") || strings.ContainsAny(raw, " \n") {
		t.Fatalf("got stdout %q, want the raw token alone", raw)
	}
	env["UNDERSTUDY_TOKEN"] = raw
	env["UNDERSTUDY_SERVER"] = srv.URL
	stdout.Reset()
	if err := run(context.Background(), []string{"incident", "list", "-json"}, func(k string) string { return env[k] }, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	var got admin.IncidentsJSON
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil || len(got.Incidents) != 3 {
		t.Errorf("got %v %+v, want 3 incidents in JSON", err, got)
	}
}

func TestAdminCLIUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // connection refused from now on
	var out bytes.Buffer
	err = run(context.Background(), []string{"incident", "list", "-server", url}, func(string) string { return "" }, &out, &out)
	want := "cannot reach the understudy server at " + url
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "refused") {
		t.Errorf("got %v, want %q (connection refused)", err, want)
	}
	if errors.Is(err, errUsage) {
		t.Errorf("got a usage error, want a plain one")
	}
}
