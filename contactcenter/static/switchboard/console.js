// The agent console: keyboard shortcuts, the composer (templates, live length
// check), knowledge search, SLA countdowns, presence, and handle-time beacons.
// Text from the server is only ever put in as text (textContent, .value).
(function () {
  "use strict";

  function csrf() {
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  // --- SLA countdowns -----------------------------------------------------
  function tick() {
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Math.round((new Date(el.getAttribute("data-countdown")) - new Date()) / 1000);
      var abs = Math.abs(left);
      var text = (abs >= 3600 ? Math.floor(abs / 3600) + "h " : "") + Math.floor((abs % 3600) / 60) + "m " + (abs % 60) + "s";
      el.textContent = left >= 0 ? text : "overdue by " + text;
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 300);
    });
  }
  setInterval(tick, 1000);
  tick();

  // --- Presence: away needs a reason ------------------------------------------
  var presence = document.querySelector("[data-presence]");
  var reason = document.querySelector("[data-away-reason]");
  if (presence && reason) {
    presence.addEventListener("change", function () { reason.hidden = presence.value !== "away"; });
  }

  // --- Composer -----------------------------------------------------------------
  var composer = document.querySelector("[data-composer]");
  var reply = document.querySelector("[data-reply]");
  var suggestions = document.querySelector("[data-suggestions]");
  var counter = document.querySelector("[data-counter]");
  var problems = document.querySelector("[data-problems]");
  var privateBox = document.querySelector("[data-private]");

  var check = debounce(function () {
    // Posted, not in the URL: a query string would put the draft in the access log.
    var draft = new URLSearchParams({text: reply.value, private: privateBox && privateBox.checked ? "1" : ""});
    fetch(composer.getAttribute("data-check"), {
      method: "POST", credentials: "same-origin", headers: {"X-CSRFToken": csrf()}, body: draft
    }).then(function (r) { return r.json(); }).then(function (data) {
      if (!data.problems) { if (counter) { counter.textContent = ""; } problems.textContent = data.message || ""; return; }
      // Email has no counter: its limit is far beyond any reply.
      if (counter) { counter.textContent = data.limit ? data.length + " / " + data.limit : ""; }
      var blocking = reply.value.trim() ? data.problems : [];
      problems.textContent = blocking.join(" ");
    });
  }, 250);

  // An email reply starts with the agent's signature below the text to come: a template or "/" replaces the
  // text, never the signature.
  function signature() {
    var block = reply ? reply.getAttribute("data-signature") || "" : "";
    return block && reply.value.slice(-block.length) === block ? block : "";
  }
  function body() { return reply.value.slice(0, reply.value.length - signature().length); }
  function setBody(text) {
    reply.value = text + signature();
    reply.setSelectionRange(text.length, text.length);
  }

  var latestSearch = 0;
  function showTemplates(query) {
    var search = ++latestSearch;
    fetch(composer.getAttribute("data-templates") + "?q=" + encodeURIComponent(query), {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        // An answer to an older keystroke, or to a "/" the agent has since replaced, is dropped.
        if (search !== latestSearch || body().charAt(0) !== "/") { return; }
        suggestions.textContent = "";
        data.templates.forEach(function (t, index) {
          var item = document.createElement("li");
          item.tabIndex = 0;
          item.setAttribute("data-template-text", t.text);
          var name = document.createElement("strong");
          name.textContent = "/" + t.shortcut + " ";
          var preview = document.createElement("span");
          preview.textContent = t.text;
          item.appendChild(name);
          item.appendChild(preview);
          if (index === 0) { item.classList.add("active"); }
          suggestions.appendChild(item);
        });
        suggestions.hidden = data.templates.length === 0;
      });
  }

  function useTemplate(item) {
    latestSearch++;  // results still on their way no longer apply
    setBody(item.getAttribute("data-template-text"));
    suggestions.hidden = true;
    reply.focus();
    check();
  }

  if (composer && reply) {
    reply.addEventListener("input", function () {
      var value = body();
      if (/^\/\S*$/.test(value)) { showTemplates(value); } else { suggestions.hidden = true; }
      check();
    });
    if (privateBox) { privateBox.addEventListener("change", check); }
    suggestions.addEventListener("click", function (event) {
      var item = event.target.closest("li");
      if (item) { useTemplate(item); }
    });
    reply.addEventListener("keydown", function (event) {
      if (!suggestions.hidden && (event.key === "Enter" || event.key === "Tab")) {
        var active = suggestions.querySelector(".active");
        if (active) { event.preventDefault(); useTemplate(active); return; }
      }
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        if (event.shiftKey) {
          var select = composer.querySelector("[data-resolve-with]");
          if (select && select.value === "") { select.value = "answered"; }
        }
        composer.requestSubmit();
      }
      if (event.key === "Escape") { suggestions.hidden = true; }
    });
    if (reply.value) { check(); }
  }

  // --- Email attachments: over the limits, say so before the upload (the server refuses them too) --
  var files = document.querySelector("[data-attachments]");
  function size(n) {  // as the server words it (core/email_options.py)
    return n < 1024 ? n + " bytes" : n < 1048576 ? (n / 1024).toFixed(1) + " KB" : (n / 1048576).toFixed(1) + " MB";
  }
  if (composer && files) {
    // On the window, capturing: before the page's own submit listener takes the submit as leaving for good.
    window.addEventListener("submit", function (event) {
      if (event.target !== composer) { return; }
      var most = Number(files.getAttribute("data-max-files"));
      var bytes = Number(files.getAttribute("data-max-bytes"));
      var total = 0;
      Array.prototype.forEach.call(files.files, function (f) { total += f.size; });
      var problem = files.files.length > most ? "At most " + most + " files may be attached to one reply."
        : total > bytes ? "The files come to " + size(total) + "; at most " + size(bytes) + " may be attached to one reply."
        : "";
      if (problem) { event.preventDefault(); event.stopPropagation(); problems.textContent = problem; }
    }, true);
  }

  // --- Knowledge search -------------------------------------------------------------
  var knowledge = document.querySelector("[data-knowledge]");
  var articles = document.querySelector("[data-articles]");
  if (knowledge && articles) {
    knowledge.addEventListener("input", debounce(function () {
      fetch(knowledge.getAttribute("data-knowledge") + "?q=" + encodeURIComponent(knowledge.value), {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (data) {
          articles.textContent = "";
          data.articles.forEach(function (a) {
            var item = document.createElement("li");
            var title = document.createElement("strong");
            title.textContent = a.title;
            var body = document.createElement("p");
            body.textContent = a.body;
            item.appendChild(title);
            item.appendChild(body);
            if (reply) {
              var insert = document.createElement("button");
              insert.type = "button";
              insert.textContent = "Insert";
              insert.addEventListener("click", function () {
                reply.value = (reply.value ? reply.value + "\n" : "") + a.body;
                reply.focus();
                reply.dispatchEvent(new Event("input"));
              });
              item.appendChild(insert);
            }
            articles.appendChild(item);
          });
        });
    }, 250));
  }

  // --- Handle time: wrap-up starts when the resolve form is used; leaving closes work --
  var resolveForm = document.querySelector("[data-resolve]");
  if (resolveForm) {
    var started = false;
    resolveForm.addEventListener("focusin", function () {
      if (started) { return; }
      started = true;
      fetch(resolveForm.getAttribute("data-wrap-up"), {method: "POST", credentials: "same-origin", headers: {"X-CSRFToken": csrf()}});
    });
  }
  var work = document.querySelector("[data-work-close]");
  if (work) {
    // Submitting a form here (reply, note, escalate) comes straight back to this
    // conversation: the agent is still working it, so that is not leaving it.
    var stayingOn = false;
    document.addEventListener("submit", function () { stayingOn = true; }, true);
    window.addEventListener("pagehide", function () {
      if (stayingOn) { return; }
      var body = new FormData();
      body.append("csrfmiddlewaretoken", csrf());
      navigator.sendBeacon(work.getAttribute("data-work-close"), body);
    });
  }

  // --- Web chat: the customer's typing indicator; ours and our read receipts to the customer ----------------
  var chat = document.querySelector("[data-conversation][data-chat-typing]");
  var typingShown = document.querySelector("[data-chat-typing-shown]");
  var conversationId = document.querySelector("[data-conversation]");
  var typingOff = null;
  document.addEventListener("switchboard:chat", function (event) {
    var detail = event.detail;
    if (!typingShown || !conversationId || String(detail.conversation) !== conversationId.getAttribute("data-conversation")) { return; }
    if (detail.op === "typing") {
      typingShown.hidden = !detail.on;
      clearTimeout(typingOff);  // a lost "stopped" must not leave it shown for ever
      if (detail.on) { typingOff = setTimeout(function () { typingShown.hidden = true; }, 10000); }
    }
  });
  function chatPost(url, fields) {
    var body = new FormData();
    Object.keys(fields).forEach(function (name) { body.append(name, fields[name]); });
    fetch(url, {method: "POST", credentials: "same-origin", headers: {"X-CSRFToken": csrf()}, body: body});
  }
  if (chat) {
    var typing = false;
    var stopTyping = debounce(function () { typing = false; chatPost(chat.getAttribute("data-chat-typing"), {on: "0"}); }, 3000);
    var box = document.querySelector("[data-reply]");
    if (box) {
      box.addEventListener("input", function () {
        if (!typing) { typing = true; chatPost(chat.getAttribute("data-chat-typing"), {on: "1"}); }
        stopTyping();
      });
    }
    var markRead = function () {
      var last = Array.prototype.slice.call(document.querySelectorAll(".thread article.message.in[id^='m']")).pop();
      if (last && document.visibilityState === "visible") { chatPost(chat.getAttribute("data-chat-read"), {up_to: last.id.slice(1)}); }
    };
    markRead();
    document.addEventListener("switchboard:refreshed", markRead);
    document.addEventListener("visibilitychange", markRead);
  }

  // --- Keyboard shortcuts ---------------------------------------------------------------
  var rows = function () { return Array.prototype.slice.call(document.querySelectorAll("[data-inbox] tr[data-href]")); };
  var current = -1;
  function highlight(index) {
    var all = rows();
    if (!all.length) { return; }
    current = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (row, i) { row.classList.toggle("selected", i === current); });
  }
  document.addEventListener("keydown", function (event) {
    if (event.target.matches("input, textarea, select") || event.altKey || event.ctrlKey || event.metaKey) {
      if (event.key === "R" && event.ctrlKey && event.shiftKey && resolveForm) { event.preventDefault(); resolveForm.requestSubmit(); }
      return;
    }
    if (event.key === "j") { highlight(current + 1); }
    else if (event.key === "k") { highlight(current - 1); }
    else if (event.key === "Enter" && current >= 0 && rows()[current]) { window.location = rows()[current].getAttribute("data-href"); }
    else if (event.key === "g") { var next = document.querySelector("[data-get-next]"); if (next) { next.click(); } }
    else if (event.key === "r" && reply) { event.preventDefault(); reply.focus(); }
    else if (event.key === "/" && reply) { event.preventDefault(); reply.focus(); setBody("/"); showTemplates("/"); }
    else if (event.key === "e") { var esc = document.querySelector("[data-escalate-reason]"); if (esc) { event.preventDefault(); esc.focus(); } }
    else if (event.key === "i") { window.location = "/inbox/"; }
  });
})();
