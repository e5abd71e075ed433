package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// TestHandoffInBrowser: the real serve command with every target down and
// `degrade: [handoff]`, the agents' console open in headless Chromium in two
// tabs. A chat request is handed off; the queue tab shows it without a
// reload, its SLA timer ticking. The agent claims it and answers from the
// other tab; the integrator's event stream gets the answer. The user's next
// message appears on the agent's page without a reload (and without
// touching the reply being typed); the agent closes the conversation, the
// stream gets "closed" and the row leaves the queue. Stopping the server
// with both tabs open does not wait for their streams.
func TestHandoffInBrowser(t *testing.T) {
	exe := os.Getenv("UNDERSTUDY_TEST_CHROMIUM")
	if exe == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("UNDERSTUDY_TEST_CHROMIUM is empty, and CI must run the browser tests")
		}
		t.Skip("UNDERSTUDY_TEST_CHROMIUM is not set")
	}
	ctx, cancel := testCtx(t)
	const adminToken, chatKey = "us_handoff-browser-admin", "sk-handoff-browser-chat"
	s := startServed(ctx, t, serveConfig+"    degrade: [handoff]\nkeys:\n  - {name: web-chat, key: \"${CHAT_KEY}\"}\n",
		map[string]string{"CHAT_KEY": chatKey, "UNDERSTUDY_ADMIN_TOKEN": adminToken, "UNDERSTUDY_TOKEN": adminToken})
	base, env, done := s.base, s.env, s.done
	s.down(t)
	// An agent token, created as an operator would: with the CLI.
	var tokOut, tokErr bytes.Buffer
	if err := run(ctx, []string{"token", "create", "-server", base, "-name", "alice", "-scope", "agent"}, env, &tokOut, &tokErr); err != nil {
		t.Fatalf("token create: %v\n%s", err, tokErr.String())
	}
	agentToken := strings.TrimSpace(tokOut.String())

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(exe),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-background-timer-throttling", true), chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true), chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	queueTab, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(queueTab, chromedp.Navigate(base+"/console/handoff")); err != nil { // to the sign-in form
		t.Fatal(err)
	}
	tabCtx := func(tab context.Context) context.Context {
		c, stop := context.WithTimeout(tab, 40*time.Second)
		t.Cleanup(stop)
		return c
	}
	queue := tabCtx(queueTab)
	if err := chromedp.Do(queue,
		chromedp.SendKeys(chromedp.ID("token"), agentToken),
		chromedp.Click(chromedp.CSS(`form[action="/console/signin"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("handoff-queue")),
	); err != nil {
		t.Fatalf("signing in: %v", err)
	}
	waitFor(t, queue, `document.getElementById("handoff").dataset.liveState === "open"`, "the queue connected to its stream")
	if _, err := chromedp.Run(queue, chromedp.Evaluate[string](`window.__marker = "queue"`)); err != nil {
		t.Fatal(err)
	}

	// The user's chat is handed off.
	client := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey(chatKey), option.WithMaxRetries(0))
	var raw *http.Response
	c, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "assistant",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("My parcel never arrived.")}}, option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	id := raw.Header.Get("X-Understudy-Handoff")
	if id == "" || len(c.Choices) == 0 || !strings.Contains(c.Choices[0].Message.Content, "A person from our team will take over this conversation (reference #"+id+")") {
		t.Fatalf("handoff reply: %s %+v", id, c)
	}
	row := "handoff-row-" + id
	waitFor(t, queue, fmt.Sprintf(`!!document.querySelector("#%s .h-waiting")`, row), "the queue shows the new conversation")
	sameTab(t, queue, "queue")
	// The SLA timer ticks, and turns late past its limit (made 1 s here
	// rather than waiting 2 minutes).
	before, err := chromedp.Run(queue, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector("#%s .sla-time").textContent`, row)))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, queue, fmt.Sprintf(`document.querySelector("#%s .sla-time").textContent !== %q`, row, before), "the SLA timer ticks")
	if _, err := chromedp.Run(queue, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector("#%s .sla").setAttribute("data-sla", "1") === undefined`, row))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, queue, fmt.Sprintf(`document.getElementById(%q).classList.contains("late") && !document.querySelector("#%s .sla-late").hidden`, row, row), "the row turns late")

	// The integrator's client follows the conversation.
	events := followConversation(ctx, t, base+"/handoff/v1/conversations/"+id+"/events", chatKey)

	// The agent opens it from the queue in another tab, claims it and answers.
	agentTab, cancelAgentTab := chromedp.NewContext(queueTab)
	defer cancelAgentTab()
	agent := tabCtx(agentTab)
	const reply = "Hello, I am Alice. Let me check your parcel."
	if err := chromedp.Do(agent,
		chromedp.Navigate(base+"/console/handoff"),
		chromedp.Click(chromedp.CSS("#"+row+" a")),
		chromedp.Click(chromedp.CSS(`#handoff-actions form[action$="/claim"] button`)),
	); err != nil {
		t.Fatalf("claiming: %v", err)
	}
	// The page after the claim (the one being left may already show the
	// reply form, live), then the reply.
	waitFor(t, agent, `(document.querySelector(".flash") || {}).textContent === "Conversation #`+id+` claimed."`, "the page after the claim")
	if err := chromedp.Do(agent,
		chromedp.SendKeys(chromedp.ID("content"), reply),
		chromedp.Click(chromedp.CSS(`#handoff-actions form[action$="/reply"] button`)),
	); err != nil {
		t.Fatalf("answering: %v", err)
	}
	if m := events.next(t, "message"); !strings.Contains(m, `"role":"agent"`) || !strings.Contains(m, reply) {
		t.Errorf("the integrator's stream got %s, want the agent's reply", m)
	}
	front(t, queue)
	waitFor(t, queue, fmt.Sprintf(`!!document.querySelector("#%s .h-assigned") && document.getElementById(%q).textContent.includes("alice")`, row, row),
		"the queue shows the conversation claimed by alice")
	sameTab(t, queue, "queue")

	// The user writes; the agent's open page shows it, and keeps the draft.
	front(t, agent)
	waitFor(t, agent, `(document.querySelector(".flash") || {}).textContent === "Conversation #`+id+` answered." && document.getElementById("handoff").dataset.liveState === "open"`,
		"the agent's page after the reply, following its stream")
	if err := chromedp.Do(agent, chromedp.SendKeys(chromedp.ID("content"), "Draft")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(agent, chromedp.Evaluate[string](`window.__marker = "conversation"`)); err != nil {
		t.Fatal(err)
	}
	const userText = "Thanks! Order 4242."
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/handoff/v1/conversations/"+id+"/messages", strings.NewReader(`{"content":"`+userText+`"}`))
	req.Header.Set("Authorization", "Bearer "+chatKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("user message: HTTP %d", resp.StatusCode)
	}
	waitFor(t, agent, fmt.Sprintf(`document.getElementById("handoff-transcript").textContent.includes(%q)`, userText), "the user's message on the agent's page")
	sameTab(t, agent, "conversation")
	if v, err := chromedp.Run(agent, chromedp.Evaluate[string](`document.getElementById("content").value`)); err != nil || v != "Draft" {
		t.Errorf("the reply being typed: got %q %v, want it kept", v, err)
	}
	if m := events.next(t, "message"); !strings.Contains(m, userText) {
		t.Errorf("the integrator's stream got %s, want the user's message", m)
	}

	// The agent closes it: the integrator's stream ends with "closed", and
	// the row leaves the queue.
	if err := chromedp.Do(agent, chromedp.Click(chromedp.CSS(`#handoff-actions form[action$="/close"] button`))); err != nil {
		t.Fatal(err)
	}
	events.next(t, "closed")
	front(t, queue)
	waitFor(t, queue, fmt.Sprintf(`!document.getElementById(%q)`, row), "the closed conversation leaves the queue")
	sameTab(t, queue, "queue")

	// Both tabs still follow their streams: the server stops anyway, without
	// waiting out the shutdown's grace period.
	waitFor(t, queue, `document.getElementById("handoff").dataset.liveState === "open"`, "the queue still connected")
	stopped := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
		t.Logf("serve stopped %s after the cancel", time.Since(stopped).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("serve still running 5 s after the stop: the console's streams hold up the shutdown")
	}
}

// waitFor polls expr in the tab until it is true, for at most 15 s. A
// navigation under way (after a click on a form's button) restarts the
// polling in the new page.
func waitFor(t *testing.T, tab context.Context, expr, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := chromedp.Run(tab, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond),
			chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		if navigating(err) && time.Now().Before(deadline) {
			continue
		}
		html, _ := chromedp.Run(tab, chromedp.Evaluate[string](`(document.getElementById("handoff") || document.body).outerHTML`))
		t.Fatalf("%s: %v\n%s", what, err, html)
	}
}

// navigating reports whether err is an evaluation cut by the page's
// navigation.
func navigating(err error) bool {
	for _, s := range []string{"navigated or closed", "Execution context was destroyed", "Cannot find context"} {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}

// sameTab checks that the tab's page was not reloaded since the marker was set.
func sameTab(t *testing.T, tab context.Context, marker string) {
	t.Helper()
	if m, err := chromedp.Run(tab, chromedp.Evaluate[string](`window.__marker || ""`)); err != nil || m != marker {
		t.Errorf("the page was reloaded (marker %q, want %q, %v)", m, marker, err)
	}
}

// front activates the tab.
func front(t *testing.T, tab context.Context) {
	t.Helper()
	if err := chromedp.Do(tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.BringToFront, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatal(err)
	}
}

// conversationEvents is an integrator's client reading a conversation's
// Server-Sent Events.
type conversationEvents struct {
	ctx context.Context
	ch  chan [2]string // event name, data
}

// followConversation opens the integrator API's event stream with the
// gateway key and returns once it has said hello.
func followConversation(ctx context.Context, t *testing.T, url, key string) *conversationEvents {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	e := &conversationEvents{ctx: ctx, ch: make(chan [2]string, 16)}
	go func() {
		defer resp.Body.Close()
		defer close(e.ch)
		sc := bufio.NewScanner(resp.Body)
		var name string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				select {
				case e.ch <- [2]string{name, v}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	e.next(t, "hello")
	return e
}

// next returns the data of the next event, which must be called name.
func (e *conversationEvents) next(t *testing.T, name string) string {
	t.Helper()
	select {
	case ev, ok := <-e.ch:
		if !ok {
			t.Fatalf("the conversation's stream ended, want %q", name)
		}
		if ev[0] != name {
			t.Fatalf("the conversation's stream: got %q %s, want %q", ev[0], ev[1], name)
		}
		var v any
		if err := json.Unmarshal([]byte(ev[1]), &v); err != nil {
			t.Errorf("event %q: data %q is not JSON", ev[0], ev[1])
		}
		return ev[1]
	case <-e.ctx.Done():
		t.Fatalf("no %q event before the deadline", name)
	}
	return ""
}
