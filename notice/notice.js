// Understudy notice banner. Embed in any chat UI:
//   <script src="https://status.example.com/notice.js" data-route="assistant" data-lang="fr" async></script>
// It asks /api/notice every 30 s (and when the tab becomes visible) and
// shows a dismissible banner while the route is not operational.
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me) return;
  var base = me.getAttribute("data-base") || new URL(me.src).origin;
  var route = me.getAttribute("data-route") || "assistant";
  var lang = me.getAttribute("data-lang") || document.documentElement.lang || navigator.language || "";
  var every = (parseInt(me.getAttribute("data-every"), 10) || 30) * 1000;
  var box = null, dismissed = "";
  var labels = { en: { details: "Details", close: "Close" }, fr: { details: "Détails", close: "Fermer" } };

  function render(n) {
    if (!n.active || dismissed === n.status + (n.incident ? n.incident.id : "")) {
      if (box) { box.remove(); box = null; }
      return;
    }
    var l = labels[n.lang] || labels.en;
    if (!box) {
      box = document.createElement("div");
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      box.className = "understudy-notice";
      box.style.cssText = "position:fixed;top:0;left:0;right:0;z-index:2147483647;padding:.6em 2.5em .6em 1em;" +
        "background:#fff4e5;color:#4a2c00;border-bottom:2px solid #b45f06;font:14px/1.4 system-ui,sans-serif";
      document.body.appendChild(box);
    }
    box.textContent = n.message + " ";
    if (n.status_page) {
      var a = document.createElement("a");
      a.href = n.status_page; a.textContent = l.details; a.target = "_blank"; a.rel = "noopener";
      a.style.color = "inherit";
      box.appendChild(a);
    }
    var x = document.createElement("button");
    x.type = "button"; x.textContent = "×"; x.setAttribute("aria-label", l.close);
    x.style.cssText = "position:absolute;right:.5em;top:.3em;border:0;background:none;font-size:1.4em;cursor:pointer;color:inherit";
    x.onclick = function () { dismissed = n.status + (n.incident ? n.incident.id : ""); render(n); };
    box.appendChild(x);
  }

  function poll() {
    var url = base + "/api/notice?route=" + encodeURIComponent(route) + (lang ? "&lang=" + encodeURIComponent(lang.slice(0, 2)) : "");
    fetch(url, { credentials: "omit" }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (n) { if (n) render(n); }).catch(function () {});
  }
  poll();
  setInterval(poll, every);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });
})();
