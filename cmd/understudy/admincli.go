package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/understudy/understudy/admin"
)

// The incident, maintenance and token commands talk to a running server's
// admin API. The token comes from $UNDERSTUDY_TOKEN only: secrets are
// never flags.

const defaultServer = "http://127.0.0.1:8080"

// adminCmd is one admin command being run: its flags, the client and the
// outputs.
type adminCmd struct {
	ctx            context.Context
	getenv         func(string) string
	stdout, stderr io.Writer
	fs             *flag.FlagSet
	server         *string
	json           *bool
	usage          string
}

func newAdminCmd(ctx context.Context, name, usage string, getenv func(string) string, stdout, stderr io.Writer) *adminCmd {
	c := &adminCmd{ctx: ctx, getenv: getenv, stdout: stdout, stderr: stderr, usage: usage,
		fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	c.fs.SetOutput(stderr)
	server := getenv("UNDERSTUDY_SERVER")
	if server == "" {
		server = defaultServer
	}
	c.server = c.fs.String("server", server, "server URL (default $UNDERSTUDY_SERVER, else "+defaultServer+")")
	c.json = c.fs.Bool("json", false, "print the server's JSON answer")
	c.fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: understudy %s\n\nThe token is read from $UNDERSTUDY_TOKEN.\n\n", usage)
		c.fs.PrintDefaults()
	}
	return c
}

// parse parses flags and positional arguments in any order, and checks
// that there are want positional arguments.
func (c *adminCmd) parse(args []string, want int) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return nil, err
		}
		if args = c.fs.Args(); len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	if len(pos) != want {
		c.fs.Usage()
		return nil, errUsage
	}
	return pos, nil
}

// ids parses flags and want positional ids.
func (c *adminCmd) ids(args []string, want int) ([]string, error) {
	pos, err := c.parse(args, want)
	if err != nil {
		return nil, err
	}
	for i, p := range pos {
		if pos[i], err = parseID(p); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// call sends a request to the admin API and decodes the answer into out;
// with -json it prints the answer instead and out is left empty.
func (c *adminCmd) call(method, path string, in, out any) (printed bool, err error) {
	base := strings.TrimRight(*c.server, "/")
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return false, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.ctx, method, base+"/admin/v1/"+path, body)
	if err != nil {
		return false, fmt.Errorf("server %q: %w", base, err)
	}
	token := c.getenv("UNDERSTUDY_TOKEN")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections() // one-shot: leave nothing behind
	res, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return false, fmt.Errorf("cannot reach the understudy server at %s: %v (set -server or $UNDERSTUDY_SERVER)", base, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return false, fmt.Errorf("reading the answer of %s: %w", base, err)
	}
	if res.StatusCode >= 400 {
		var e admin.ErrorJSON
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		switch {
		case res.StatusCode == http.StatusUnauthorized && token == "":
			return false, errors.New("no token: set UNDERSTUDY_TOKEN to an admin token")
		case res.StatusCode == http.StatusUnauthorized:
			return false, fmt.Errorf("the server refused the token (%s): set UNDERSTUDY_TOKEN to a valid admin token", msg)
		}
		return false, fmt.Errorf("%s (HTTP %d)", msg, res.StatusCode)
	}
	if *c.json {
		var buf bytes.Buffer
		if json.Indent(&buf, raw, "", "  ") != nil {
			buf.Reset()
			buf.Write(raw)
		}
		fmt.Fprintln(c.stdout, strings.TrimSpace(buf.String()))
		return true, nil
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return false, fmt.Errorf("unexpected answer from %s: %w", base, err)
		}
	}
	return false, nil
}

const incidentUsage = `incident list [-open] | show ID | create -title T -severity S -cause C -components a,b -message M
       | update ID -message M [-status S] [-severity S] [-components a,b] [-eta RFC3339|30m|none]
       | resolve ID [-message M] | reopen ID [-message M] | merge ID INTO`

func runIncident(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: understudy %s\n", incidentUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	c := newAdminCmd(ctx, "incident "+sub, incidentUsage, getenv, stdout, stderr)
	switch sub {
	case "list":
		open := c.fs.Bool("open", false, "only open incidents")
		if _, err := c.parse(args, 0); err != nil {
			return err
		}
		var out admin.IncidentsJSON
		path := "incidents"
		if *open {
			path += "?open=true"
		}
		if printed, err := c.call("GET", path, nil, &out); err != nil || printed {
			return err
		}
		tw := table(stdout, "ID\tSTATUS\tSEVERITY\tCAUSE\tCOMPONENTS\tSTARTED\tTITLE")
		for _, i := range out.Incidents {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", i.ID, i.Status, i.Severity, i.Cause, list(i.Components), when(i.StartedAt), i.Title)
		}
		return tw.Flush()
	case "show":
		pos, err := c.ids(args, 1)
		if err != nil {
			return err
		}
		id := pos[0]
		var inc admin.IncidentJSON
		if printed, err := c.call("GET", "incidents/"+id, nil, &inc); err != nil || printed {
			return err
		}
		showIncident(stdout, inc)
		return nil
	case "create":
		var req admin.NewIncidentRequest
		var components string
		c.fs.StringVar(&req.Title, "title", "", "title (required)")
		c.fs.StringVar(&req.Severity, "severity", "", "minor, major or critical (required)")
		c.fs.StringVar(&req.Cause, "cause", "unknown", "technical, overload, maintenance, quota, misconfiguration or unknown")
		c.fs.StringVar(&components, "components", "", "affected components, comma-separated")
		c.fs.StringVar(&req.Message, "message", "", "first public update (required)")
		c.fs.StringVar(&req.Status, "status", "", "investigating (default), identified or monitoring")
		if _, err := c.parse(args, 0); err != nil {
			return err
		}
		req.Components = splitComma(components)
		var inc admin.IncidentJSON
		if printed, err := c.call("POST", "incidents", req, &inc); err != nil || printed {
			return err
		}
		fmt.Fprintf(stdout, "opened incident #%d: %s (%s, %s)\n", inc.ID, inc.Title, inc.Severity, inc.Status)
		return nil
	case "update":
		var req admin.IncidentUpdateRequest
		var components, eta string
		c.fs.StringVar(&req.Message, "message", "", "the public update (required)")
		c.fs.StringVar(&req.Status, "status", "", "investigating, identified, monitoring or resolved (default: keep)")
		c.fs.StringVar(&req.Severity, "severity", "", "minor, major or critical (default: keep)")
		c.fs.StringVar(&components, "components", "", "affected components, comma-separated (default: keep)")
		c.fs.StringVar(&eta, "eta", "", `expected resolution: RFC 3339 time, a duration from now (30m), or "none" to clear it`)
		pos, err := c.ids(args, 1)
		if err != nil {
			return err
		}
		id := pos[0]
		if components != "" {
			req.Components = splitComma(components)
		}
		switch eta {
		case "":
		case "none":
			req.ETA = json.RawMessage("null")
		default:
			t, err := admin.ParseTime(eta, time.Now())
			if err != nil {
				return fmt.Errorf("-eta: %w", err)
			}
			req.ETA, _ = json.Marshal(t.UTC().Format(time.RFC3339))
		}
		var inc admin.IncidentJSON
		if printed, err := c.call("POST", "incidents/"+id+"/updates", req, &inc); err != nil || printed {
			return err
		}
		fmt.Fprintf(stdout, "posted an update to incident #%d (%s, %s)\n", inc.ID, inc.Status, inc.Severity)
		return nil
	case "resolve", "reopen":
		var req admin.MessageRequest
		c.fs.StringVar(&req.Message, "message", "", "the public update (default: a standard one)")
		pos, err := c.ids(args, 1)
		if err != nil {
			return err
		}
		id := pos[0]
		var inc admin.IncidentJSON
		if printed, err := c.call("POST", "incidents/"+id+"/"+sub, req, &inc); err != nil || printed {
			return err
		}
		fmt.Fprintf(stdout, "incident #%d is %s\n", inc.ID, inc.Status)
		return nil
	case "merge":
		pos, err := c.ids(args, 2)
		if err != nil {
			return err
		}
		id := pos[0]
		n, _ := strconv.ParseInt(pos[1], 10, 64) // ids checked it
		var inc admin.IncidentJSON
		if printed, err := c.call("POST", "incidents/"+id+"/merge", admin.MergeRequest{Into: n}, &inc); err != nil || printed {
			return err
		}
		fmt.Fprintf(stdout, "merged incident #%s into #%d: %s\n", id, inc.ID, inc.Title)
		return nil
	}
	fmt.Fprintf(stderr, "unknown incident command %q\nusage: understudy %s\n", sub, incidentUsage)
	return errUsage
}

func showIncident(w io.Writer, inc admin.IncidentJSON) {
	fmt.Fprintf(w, "Incident #%d: %s\n\n", inc.ID, inc.Title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Status", inc.Status)
	row("Severity", inc.Severity)
	row("Cause", inc.Cause)
	row("Components", list(inc.Components))
	row("Started", when(inc.StartedAt))
	detected := when(inc.DetectedAt)
	if inc.Detector != "" {
		detected += " by " + inc.Detector
	}
	row("Detected", detected)
	row("ETA", when(inc.ETA))
	if !inc.ResolvedAt.IsZero() {
		row("Resolved", when(inc.ResolvedAt))
	}
	if inc.MergedInto != 0 {
		row("Merged into", fmt.Sprintf("#%d", inc.MergedInto))
	}
	_ = tw.Flush()

	ev := inc.Evidence
	fmt.Fprintln(w, "\nEvidence")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var classes []string
	for c, n := range ev.Classes {
		classes = append(classes, fmt.Sprintf("%s %d", c, n))
	}
	slices.Sort(classes)
	fmt.Fprintf(tw, "  Error classes:\t%s\n  Routes:\t%s\n  Targets:\t%s\n  First bad minute:\t%s\n",
		list(classes), list(ev.Routes), list(ev.Targets), when(ev.FirstBad))
	_ = tw.Flush()
	for _, s := range []struct {
		name  string
		lines []string
	}{{"Signals", ev.Signals}, {"Provider reports", ev.Provider}, {"Samples", ev.Samples}} {
		if len(s.lines) > 0 {
			fmt.Fprintf(w, "  %s:\n", s.name)
			for _, l := range s.lines {
				fmt.Fprintf(w, "    - %s\n", l)
			}
		}
	}

	fmt.Fprintln(w, "\nUpdates")
	if len(inc.Updates) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, u := range inc.Updates {
		eta := ""
		if !u.ETA.IsZero() {
			eta = ", ETA " + when(u.ETA)
		}
		fmt.Fprintf(w, "  %s  %s, %s, by %s%s\n    %s\n", when(u.CreatedAt), u.Status, u.Severity, u.Author, eta, u.Message)
	}

	fmt.Fprintln(w, "\nTimeline")
	tw = table(w, "  TIME\tEVENT\tAUTHOR\tMESSAGE")
	for _, e := range inc.Timeline {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", when(e.Time), e.Type, dash(e.Author), e.Message)
	}
	_ = tw.Flush()
}

const maintenanceUsage = `maintenance list [-active] | schedule -title T -start RFC3339 (-end RFC3339 | -duration 1h)
       [-components a,b] [-targets provider/model,…] [-message M] | cancel ID`

func runMaintenance(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: understudy %s\n", maintenanceUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	c := newAdminCmd(ctx, "maintenance "+sub, maintenanceUsage, getenv, stdout, stderr)
	switch sub {
	case "list":
		active := c.fs.Bool("active", false, "only scheduled and running windows")
		if _, err := c.parse(args, 0); err != nil {
			return err
		}
		path := "maintenances"
		if *active {
			path += "?active=true"
		}
		var out admin.MaintenancesJSON
		if printed, err := c.call("GET", path, nil, &out); err != nil || printed {
			return err
		}
		tw := table(stdout, "ID\tSTATUS\tSTARTS\tENDS\tCOMPONENTS\tTARGETS\tTITLE")
		for _, m := range out.Maintenances {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.Status, when(m.StartsAt), when(m.EndsAt), list(m.Components), list(m.Targets), m.Title)
		}
		return tw.Flush()
	case "schedule":
		var req admin.MaintenanceRequest
		var start, end, components, targets string
		var duration time.Duration
		c.fs.StringVar(&req.Title, "title", "", "title (required)")
		c.fs.StringVar(&req.Message, "message", "", "what is done and what users should expect")
		c.fs.StringVar(&start, "start", "", `start: RFC 3339 time, "now", or a duration from now (required)`)
		c.fs.StringVar(&end, "end", "", "end: RFC 3339 time")
		c.fs.DurationVar(&duration, "duration", 0, "length of the window (instead of -end)")
		c.fs.StringVar(&components, "components", "", "components shown under maintenance, comma-separated")
		c.fs.StringVar(&targets, "targets", "", "provider/model targets drained, comma-separated")
		if _, err := c.parse(args, 0); err != nil {
			return err
		}
		if start == "" || (end == "") == (duration == 0) {
			fmt.Fprintln(stderr, "schedule needs -start, and -end or -duration (one of them)")
			c.fs.Usage()
			return errUsage
		}
		s, err := admin.ParseTime(start, time.Now())
		if err != nil {
			return fmt.Errorf("-start: %w", err)
		}
		e := s.Add(duration)
		if end != "" {
			if e, err = time.Parse(time.RFC3339, end); err != nil {
				return fmt.Errorf("-end: %q is not an RFC 3339 time (2006-01-02T15:04:05Z)", end)
			}
		}
		req.StartsAt, req.EndsAt = s.Format(time.RFC3339), e.Format(time.RFC3339)
		req.Components, req.Targets = splitComma(components), splitComma(targets)
		var m admin.MaintenanceJSON
		if printed, err := c.call("POST", "maintenances", req, &m); err != nil || printed {
			return err
		}
		fmt.Fprintf(stdout, "scheduled maintenance #%d: %s, %s to %s\n", m.ID, m.Title, when(m.StartsAt), when(m.EndsAt))
		return nil
	case "cancel":
		pos, err := c.ids(args, 1)
		if err != nil {
			return err
		}
		id := pos[0]
		var m admin.MaintenanceJSON
		if printed, err := c.call("POST", "maintenances/"+id+"/cancel", nil, &m); err != nil || printed {
			return err
		}
		fmt.Fprintf(stdout, "maintenance #%d is %s\n", m.ID, m.Status)
		return nil
	}
	fmt.Fprintf(stderr, "unknown maintenance command %q\nusage: understudy %s\n", sub, maintenanceUsage)
	return errUsage
}

const tokenUsage = `token create -name N -scope admin|operator|agent | list | revoke NAME`

func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: understudy %s\n", tokenUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	c := newAdminCmd(ctx, "token "+sub, tokenUsage, getenv, stdout, stderr)
	switch sub {
	case "create":
		var req admin.TokenRequest
		c.fs.StringVar(&req.Name, "name", "", "token name (required)")
		c.fs.StringVar(&req.Scope, "scope", "", "admin, operator or agent (required)")
		if _, err := c.parse(args, 0); err != nil {
			return err
		}
		var t admin.TokenJSON
		if printed, err := c.call("POST", "tokens", req, &t); err != nil || printed {
			return err
		}
		// The secret alone on stdout, so it can be captured; the notice on stderr.
		fmt.Fprintf(stderr, "created token %q with %s scope; it is shown only this once:\n", t.Name, t.Scope)
		fmt.Fprintln(stdout, t.Token)
		return nil
	case "list":
		if _, err := c.parse(args, 0); err != nil {
			return err
		}
		var out admin.TokensJSON
		if printed, err := c.call("GET", "tokens", nil, &out); err != nil || printed {
			return err
		}
		tw := table(stdout, "NAME\tSCOPE\tCREATED\tLAST USED\tREVOKED")
		for _, t := range out.Tokens {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Scope, when(t.CreatedAt), when(t.LastUsed), when(t.RevokedAt))
		}
		return tw.Flush()
	case "revoke":
		pos, err := c.parse(args, 1)
		if err != nil {
			return err
		}
		var t admin.TokenJSON
		if printed, err := c.call("DELETE", "tokens/"+url.PathEscape(pos[0]), nil, &t); err != nil || printed {
			return err
		}
		fmt.Fprintf(stdout, "revoked token %q\n", t.Name)
		return nil
	}
	fmt.Fprintf(stderr, "unknown token command %q\nusage: understudy %s\n", sub, tokenUsage)
	return errUsage
}

func table(w io.Writer, header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}

// parseID reads an incident or maintenance id ("12" or "#12").
func parseID(s string) (string, error) {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || n <= 0 {
		return "", fmt.Errorf("%q is not an id (a positive number): %w", s, errUsage)
	}
	return strconv.FormatInt(n, 10), nil
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
