// Understudy status page: follows the live stream and swaps in the parts of
// the page that change, without a reload. Without this script the page is
// the same, only refreshed by hand.
(function () {
  "use strict";
  var root = document.documentElement;

  // Uptime bars: one tab stop per component instead of one per day; the
  // arrow keys, Home and End move between days (a roving tabindex).
  var bars = document.querySelectorAll("ol.bars");
  for (var b = 0; b < bars.length; b++) {
    roving(bars[b]);
  }
  function roving(list) {
    var days = list.querySelectorAll("li.day");
    if (!days.length) { return; }
    for (var i = 0; i < days.length; i++) { days[i].tabIndex = -1; }
    days[days.length - 1].tabIndex = 0;
    list.addEventListener("keydown", function (e) {
      var cur = Array.prototype.indexOf.call(days, document.activeElement);
      if (cur < 0) { return; }
      var next = cur;
      if (e.key === "ArrowLeft" || e.key === "ArrowUp") { next = cur - 1; }
      else if (e.key === "ArrowRight" || e.key === "ArrowDown") { next = cur + 1; }
      else if (e.key === "Home") { next = firstShown(days); }
      else if (e.key === "End") { next = days.length - 1; }
      else { return; }
      e.preventDefault();
      if (next < 0 || next >= days.length || days[next].offsetParent === null) { return; }
      days[cur].tabIndex = -1;
      days[next].tabIndex = 0;
      days[next].focus();
    });
  }
  // firstShown is the oldest day on screen (small screens hide some).
  function firstShown(days) {
    for (var i = 0; i < days.length; i++) {
      if (days[i].offsetParent !== null) { return i; }
    }
    return days.length - 1;
  }

  var streamURL = root.getAttribute("data-live");
  var fragmentURL = root.getAttribute("data-fragment");
  if (!streamURL || !fragmentURL || !window.EventSource || !window.fetch) {
    return;
  }

  var busy = false, again = false;

  // refresh fetches the live fragment and replaces each part by id; a
  // change arriving meanwhile fetches once more afterwards.
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(fragmentURL, { cache: "no-store", credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (res) {
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

  function apply(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    var parts = tpl.content.querySelectorAll("[data-live-part][id]");
    var hadFocus = document.activeElement && document.activeElement !== document.body;
    for (var i = 0; i < parts.length; i++) {
      var old = document.getElementById(parts[i].id);
      if (old) { old.replaceWith(parts[i]); }
    }
    // Focus inside a replaced part would fall back to the body: keep it in
    // the main content instead.
    var main = document.getElementById("main");
    if (hadFocus && document.activeElement === document.body && main) {
      main.focus({ preventScroll: true });
    }
    var banner = document.querySelector("#live-banner .banner-text");
    var announce = document.getElementById("live-announce");
    if (banner && announce && announce.textContent !== banner.textContent) {
      announce.textContent = banner.textContent;
    }
    root.setAttribute("data-live-applied", String(Date.now()));
  }

  var state = document.getElementById("live-state");
  function setState(on) {
    root.setAttribute("data-live-state", on ? "open" : "closed");
    if (!state) { return; }
    state.textContent = state.getAttribute(on ? "data-text-live" : "data-text-offline");
    state.classList.toggle("off", !on);
    state.hidden = false;
  }

  var source = null, connectedOnce = false, delay = 1000, timer = 0;

  function connect() {
    timer = 0;
    source = new EventSource(streamURL);
    source.addEventListener("hello", function () {
      setState(true);
      delay = 1000;
      // Changes may have been missed while disconnected.
      if (connectedOnce) { refresh(); }
      connectedOnce = true;
    });
    source.addEventListener("change", refresh);
    source.onerror = function () {
      setState(false);
      // The browser retries by itself unless the stream is closed (an
      // HTTP error): then retry here, backing off up to 30 s.
      if (source.readyState === EventSource.CLOSED && !timer) {
        source.close();
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      }
    };
  }
  connect();
})();
