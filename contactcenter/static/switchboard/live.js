// Live updates: one websocket per page. Events say *what* changed; each live
// region re-fetches its server-rendered fragment, so customer text is only
// ever rendered (and escaped) by Django templates, never by this script.
(function () {
  "use strict";
  var path = document.body.getAttribute("data-live-socket");
  if (!path) { return; }
  var status = document.querySelector("[data-live-status]");
  var pending = new Map();
  var delay = 500;

  function refresh(region) {
    pending.delete(region);
    fetch(region.getAttribute("data-live-refresh"), {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        region.innerHTML = html;
        document.dispatchEvent(new CustomEvent("switchboard:refreshed", {detail: region}));
      });
  }

  function refreshAll(ids, selector) {
    document.querySelectorAll(selector || "[data-live-refresh]").forEach(function (region) {
      var only = region.getAttribute("data-live-ids");
      if (only && ids && !ids.some(function (id) { return String(id) === only; })) { return; }
      if (!pending.has(region)) { pending.set(region, setTimeout(function () { refresh(region); }, 100)); }
    });
  }

  function notify(text, href) {
    var box = document.querySelector("[data-alerts]");
    if (!box) {
      box = document.createElement("div");
      box.setAttribute("data-alerts", "");
      box.className = "alerts";
      document.body.appendChild(box);
    }
    var item = document.createElement("a");
    item.className = "alert";
    item.textContent = text;
    if (href) { item.href = href; }
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, 15000);
  }

  function onEvent(event) {
    if (event.type === "alert" && event.op === "escalated") {
      notify("Conversation #" + Number(event.id) + " was escalated", "/conversations/" + Number(event.id) + "/");
    }
    if (event.type === "alert" && event.op === "admin") { notify(String(event.subject), null); }
    if (event.type === "alert" && event.op === "spike") {
      notify("Spike in " + (event.category ? String(event.category) : "uncategorised") + " posts", "/");
    }
    if (event.type === "sla" && event.breached && event.breached.length) {
      notify(event.breached.length + " conversation(s) breached their SLA", "/");
    }
    if (event.type === "conversations" || event.type === "sla") { refreshAll(event.ids); }
    // A web chat's typing and read receipts: console.js shows them on the conversation's page.
    if (event.type === "chat") { document.dispatchEvent(new CustomEvent("switchboard:chat", {detail: event})); }
    // Presence changes (ids are user ids, not conversations) refresh only the regions that show agents.
    if (event.type === "agents") { refreshAll(null, "[data-live-refresh][data-live-agents]"); }
    // An offer rang or closed for this agent: only the inbox's offer region (offers.js rings and notifies).
    if (event.type === "offers") { refreshAll(null, "[data-live-refresh][data-live-offers]"); }
    if (event.type === "approvals" && document.querySelector("[data-approvals]") &&
        !document.activeElement.matches("textarea, input")) {
      window.location.reload();
    }
  }

  // Regions with data-live-every="N" also refresh every N seconds while the
  // tab is visible (waits and times in state move on without any event), and
  // at once when the tab comes back into view.
  document.querySelectorAll("[data-live-refresh][data-live-every]").forEach(function (region) {
    var seconds = Number(region.getAttribute("data-live-every"));
    if (!(seconds >= 1)) { return; }
    setInterval(function () {
      if (document.visibilityState === "visible" && !pending.has(region)) { refresh(region); }
    }, seconds * 1000);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && !pending.has(region)) { refresh(region); }
    });
  });

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + path);
    var beat = null;
    socket.onopen = function () {
      delay = 500;
      if (status) { status.classList.add("on"); }
      refreshAll(null);
      // Tells the server this agent is still here; silence means timed out.
      beat = setInterval(function () { socket.send(JSON.stringify({type: "heartbeat"})); }, 20000);
    };
    socket.onmessage = function (message) { onEvent(JSON.parse(message.data)); };
    socket.onclose = function () {
      if (beat) { clearInterval(beat); }
      if (status) { status.classList.remove("on"); }
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
})();
