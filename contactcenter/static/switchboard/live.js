// Live updates: one websocket per page; events say *what* changed, and the
// page re-fetches its server-rendered fragment, so customer text is only ever
// rendered (and escaped) by Django templates, never by this script.
(function () {
  "use strict";
  var path = document.body.getAttribute("data-live-socket");
  if (!path) { return; }
  var status = document.querySelector("[data-live-status]");
  var region = document.querySelector("[data-live-refresh]");
  var conversation = document.querySelector("[data-live-conversation]");
  var pending = null;
  var delay = 500;

  function refresh() {
    pending = null;
    if (!region) { return; }
    fetch(region.getAttribute("data-live-refresh"), {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html !== null) { region.innerHTML = html; } });
  }

  function onEvent(event) {
    if (event.type !== "conversations" && event.type !== "sla") { return; }
    if (region && pending === null) { pending = setTimeout(refresh, 100); }
    if (conversation && event.ids.indexOf(Number(conversation.getAttribute("data-live-conversation"))) !== -1) {
      window.location.reload();
    }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + path);
    var beat = null;
    socket.onopen = function () {
      delay = 500;
      if (status) { status.classList.add("on"); }
      refresh();
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
