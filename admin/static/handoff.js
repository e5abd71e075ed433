// Understudy agents' console, handoff pages: ticks the SLA timers every
// second, and follows the console's event stream to swap in the parts of the
// page that change (the queue; a conversation's facts, transcript and
// forms) without a reload. Without this script the pages are the same,
// refreshed by hand (the queue also by a <noscript> refresh).
(function () {
  "use strict";
  var root = document.getElementById("handoff");
  if (!root) { return; }

  // SLA timers. skew is the server's clock minus this browser's, measured
  // from the data-now of the parts, so a wrong local clock does not show a
  // wrong wait.
  var skew = 0;
  function measure(part) {
    var now = Number(part.getAttribute("data-now"));
    if (now > 0) { skew = now - Date.now(); }
  }
  var first = root.querySelector("[data-now]");
  if (first) { measure(first); }

  // duration is ms as Go prints a whole number of seconds: 45s, 1m30s, 2h0m5s.
  function duration(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    s = s % 60;
    if (h) { return h + "h" + m + "m" + s + "s"; }
    if (m) { return m + "m" + s + "s"; }
    return s + "s";
  }

  function tick() {
    var now = Date.now() + skew;
    var timers = root.querySelectorAll("[data-since]");
    for (var i = 0; i < timers.length; i++) {
      var t = timers[i];
      var elapsed = now - Number(t.getAttribute("data-since"));
      var out = t.querySelector(".sla-time");
      if (out) { out.textContent = duration(elapsed); }
      var limit = Number(t.getAttribute("data-sla"));
      var late = limit > 0 && elapsed > limit * 1000;
      t.classList.toggle("late", late);
      var row = t.closest("tr");
      if (row) { row.classList.toggle("late", late); }
      var flag = t.querySelector(".sla-late");
      if (flag) { flag.hidden = !late; }
    }
  }
  tick();
  setInterval(tick, 1000);

  var streamURL = root.getAttribute("data-live");
  var fragmentURL = root.getAttribute("data-fragment");
  var conversation = root.getAttribute("data-conversation"); // null on the queue
  if (!streamURL || !fragmentURL || !window.EventSource || !window.fetch) {
    return;
  }

  var busy = false, again = false, applied = 0;

  // refresh fetches the live parts and swaps them in; a change arriving
  // meanwhile fetches once more afterwards.
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(fragmentURL, { cache: "no-store", credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (res) {
        if (res.redirected) {
          // The session is over: the reload lands on the sign-in page.
          window.location.reload();
          throw new Error("signed out");
        }
        if (!res.ok) { throw new Error("status " + res.status); }
        return res.text();
      })
      .then(apply)
      .catch(function () { /* the next change or reconnection retries */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  // apply replaces each part by id. A part whose data-live-version has not
  // changed is kept: the DOM under the agent's pointer and keyboard (and
  // the reply being typed) only changes when the content does.
  function apply(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    var parts = tpl.content.querySelectorAll("[data-live-part][id]");
    for (var i = 0; i < parts.length; i++) {
      var next = parts[i], old = document.getElementById(next.id);
      if (!old) { continue; }
      var version = next.getAttribute("data-live-version");
      if (version !== null && version === old.getAttribute("data-live-version")) { continue; }
      var focused = old.contains(document.activeElement) ? document.activeElement : null;
      old.replaceWith(next);
      if (next.hasAttribute("data-now")) { measure(next); }
      if (focused) { refocus(focused, next); }
    }
    tick();
    applied++;
    root.setAttribute("data-live-applied", String(applied));
  }

  // refocus keeps the keyboard where it was: on the same link or field in
  // the new part, else on the page's content.
  function refocus(was, part) {
    var same = null;
    if (was.id) { same = document.getElementById(was.id); }
    if (!same && was.getAttribute("href")) {
      var links = part.querySelectorAll("a[href]");
      for (var i = 0; i < links.length; i++) {
        if (links[i].getAttribute("href") === was.getAttribute("href")) { same = links[i]; break; }
      }
    }
    (same || root).focus({ preventScroll: true });
  }

  var announcer = document.getElementById("handoff-announce");
  function announce(text) {
    if (announcer) { announcer.textContent = text; }
  }

  function onChange(e) {
    var c;
    try { c = JSON.parse(e.data); } catch (err) { return; }
    if (conversation) {
      if (String(c.id) !== conversation) { return; }
      if (e.type === "message" && c.role === "user") { announce("New message from the user."); }
      if (e.type === "closed") { announce("The conversation is closed."); }
      refresh();
      return;
    }
    // The queue shows no messages: only arrivals, claims and closes change it.
    if (e.type === "message") { return; }
    if (e.type === "created") { announce("Conversation #" + c.id + " is waiting."); }
    refresh();
  }

  var state = document.getElementById("handoff-live-state");
  function setState(on) {
    root.setAttribute("data-live-state", on ? "open" : "closed");
    if (!state) { return; }
    state.textContent = state.getAttribute(on ? "data-text-live" : "data-text-offline");
    state.classList.toggle("off", !on);
    state.hidden = false;
  }

  var source = null, delay = 1000, timer = 0;

  function connect() {
    timer = 0;
    source = new EventSource(streamURL);
    source.addEventListener("hello", function () {
      setState(true);
      delay = 1000;
      // Whatever changed between the page's rendering (or the last
      // connection) and now.
      refresh();
    });
    ["created", "claimed", "message", "closed"].forEach(function (type) {
      source.addEventListener(type, onChange);
    });
    source.onerror = function () {
      setState(false);
      // The browser retries by itself unless the stream is closed (an HTTP
      // error, or the sign-in page): then retry here, backing off to 30 s.
      if (source.readyState === EventSource.CLOSED && !timer) {
        source.close();
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      }
    };
  }
  connect();
})();
