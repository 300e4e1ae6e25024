/*
 * Switchboard's web chat widget: one tag on any site,
 *   <script src="https://switchboard.example/chat/widget.js" data-channel="KEY" async></script>
 * Plain JavaScript, no framework, no build step. It works under a strict host CSP: no inline script, no eval, no
 * style attributes (colours go through CSSOM), its style sheet is a <link> to our own origin, and visitor and agent
 * text is only ever set as textContent, never parsed as HTML. The frames it speaks are listed in docs/chat.md.
 */
(function () {
  "use strict";

  if (window.SwitchboardChat && window.SwitchboardChat.loaded) { return; }  // the tag twice on one page

  var script = document.currentScript ||
    document.querySelector("script[data-channel][src*='/chat/widget.js']") ||
    document.querySelector("script[data-channel]");
  if (!script || !script.getAttribute("data-channel")) {
    if (window.console) { window.console.warn("Switchboard chat: the script tag has no data-channel attribute."); }
    return;
  }
  var KEY = script.getAttribute("data-channel");
  var SERVER = new URL(script.src, document.baseURI);
  var ORIGIN = SERVER.origin;
  var SOCKET_URL = (SERVER.protocol === "https:" ? "wss://" : "ws://") + SERVER.host + "/ws/chat/" +
    encodeURIComponent(KEY) + "/";
  var STORE = "switchboard.chat." + KEY;
  var OPEN_STORE = "switchboard.chat.open." + KEY;
  var TYPING_IDLE_MS = 3000;
  var AGENT_TYPING_MAX_MS = 10000;  // a lost "stopped typing" must not leave the indicator shown for ever
  var BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];

  // --- Texts ---------------------------------------------------------------------------------------------
  var TEXTS = {
    en: {
      launcher: "Chat with us", close: "Close chat", end: "End chat", title: "Chat",
      message: "Your message", send: "Send", sending: "Sending…", sent: "Sent", read: "Read", failed: "Not sent",
      you: "You", agent: "Agent", typing: "{name} is typing…", someone: "Someone",
      online: "We are online.", offline: "Nobody can answer right now.", connecting: "Connecting…",
      reconnecting: "Connection lost. Reconnecting…", notAllowed: "The chat is not available on this site.",
      prechatIntro: "Before we start, tell us a little about you.", name: "Name", email: "Email", topic: "Topic",
      optional: "(optional)", choose: "Choose a topic", start: "Start chat",
      leaveIntro: "Leave a message and we will write back by email.", leave: "Send message",
      left: "Thank you. Your message was sent; we will answer by email.", noMailbox: "Please come back later.",
      transcript: "Email me the transcript", transcriptSend: "Send transcript", cancel: "Cancel",
      transcriptSent: "The transcript is on its way to your inbox.", ended: "You ended the chat. Write again any time.",
      tooLong: "The message is too long: {n} characters at most.", rateLimited: "Too many messages. Try again in {s} s.",
      verified: "Signed in as {name}", newMessages: "{n} new"
    },
    es: {
      launcher: "Chatea con nosotros", close: "Cerrar el chat", end: "Terminar el chat", title: "Chat",
      message: "Tu mensaje", send: "Enviar", sending: "Enviando…", sent: "Enviado", read: "Leído", failed: "No enviado",
      you: "Tú", agent: "Agente", typing: "{name} está escribiendo…", someone: "Alguien",
      online: "Estamos en línea.", offline: "Ahora mismo nadie puede responder.", connecting: "Conectando…",
      reconnecting: "Se perdió la conexión. Reconectando…", notAllowed: "El chat no está disponible en este sitio.",
      prechatIntro: "Antes de empezar, cuéntanos un poco sobre ti.", name: "Nombre", email: "Correo electrónico",
      topic: "Tema", optional: "(opcional)", choose: "Elige un tema", start: "Empezar el chat",
      leaveIntro: "Deja un mensaje y te responderemos por correo.", leave: "Enviar mensaje",
      left: "Gracias. Tu mensaje se envió; te responderemos por correo.", noMailbox: "Vuelve más tarde, por favor.",
      transcript: "Enviarme la conversación por correo", transcriptSend: "Enviar la conversación", cancel: "Cancelar",
      transcriptSent: "La conversación va de camino a tu correo.", ended: "Terminaste el chat. Escríbenos cuando quieras.",
      tooLong: "El mensaje es demasiado largo: {n} caracteres como máximo.",
      rateLimited: "Demasiados mensajes. Inténtalo de nuevo en {s} s.", verified: "Sesión iniciada como {name}",
      newMessages: "{n} nuevos"
    },
    fr: {
      launcher: "Discutez avec nous", close: "Fermer le chat", end: "Terminer le chat", title: "Chat",
      message: "Votre message", send: "Envoyer", sending: "Envoi…", sent: "Envoyé", read: "Lu", failed: "Non envoyé",
      you: "Vous", agent: "Conseiller", typing: "{name} écrit…", someone: "Quelqu’un",
      online: "Nous sommes en ligne.", offline: "Personne ne peut répondre pour le moment.", connecting: "Connexion…",
      reconnecting: "Connexion perdue. Reconnexion…", notAllowed: "Le chat n’est pas disponible sur ce site.",
      prechatIntro: "Avant de commencer, dites-nous qui vous êtes.", name: "Nom", email: "Adresse e-mail",
      topic: "Sujet", optional: "(facultatif)", choose: "Choisissez un sujet", start: "Commencer le chat",
      leaveIntro: "Laissez un message, nous vous répondrons par e-mail.", leave: "Envoyer le message",
      left: "Merci. Votre message est envoyé ; nous répondrons par e-mail.", noMailbox: "Revenez plus tard, s’il vous plaît.",
      transcript: "M’envoyer la conversation par e-mail", transcriptSend: "Envoyer la conversation", cancel: "Annuler",
      transcriptSent: "La conversation part vers votre boîte mail.", ended: "Vous avez terminé le chat. Écrivez-nous quand vous voulez.",
      tooLong: "Le message est trop long : {n} caractères au plus.",
      rateLimited: "Trop de messages. Réessayez dans {s} s.", verified: "Connecté en tant que {name}",
      newMessages: "{n} nouveaux"
    },
    de: {
      launcher: "Chatten Sie mit uns", close: "Chat schließen", end: "Chat beenden", title: "Chat",
      message: "Ihre Nachricht", send: "Senden", sending: "Wird gesendet…", sent: "Gesendet", read: "Gelesen",
      failed: "Nicht gesendet", you: "Sie", agent: "Mitarbeiter", typing: "{name} schreibt…", someone: "Jemand",
      online: "Wir sind online.", offline: "Gerade kann niemand antworten.", connecting: "Verbindung wird aufgebaut…",
      reconnecting: "Verbindung unterbrochen. Neuer Versuch…", notAllowed: "Der Chat ist auf dieser Website nicht verfügbar.",
      prechatIntro: "Bevor wir beginnen: Erzählen Sie uns kurz, wer Sie sind.", name: "Name", email: "E-Mail",
      topic: "Thema", optional: "(optional)", choose: "Thema wählen", start: "Chat beginnen",
      leaveIntro: "Hinterlassen Sie eine Nachricht, wir antworten per E-Mail.", leave: "Nachricht senden",
      left: "Danke. Ihre Nachricht ist angekommen; wir antworten per E-Mail.", noMailbox: "Bitte kommen Sie später wieder.",
      transcript: "Verlauf per E-Mail senden", transcriptSend: "Verlauf senden", cancel: "Abbrechen",
      transcriptSent: "Der Verlauf ist unterwegs in Ihr Postfach.", ended: "Sie haben den Chat beendet. Schreiben Sie jederzeit wieder.",
      tooLong: "Die Nachricht ist zu lang: höchstens {n} Zeichen.",
      rateLimited: "Zu viele Nachrichten. Bitte in {s} s erneut versuchen.", verified: "Angemeldet als {name}",
      newMessages: "{n} neu"
    }
  };

  function pickLanguage() {
    var wanted = (navigator.languages && navigator.languages.length) ? navigator.languages : [navigator.language || "en"];
    for (var i = 0; i < wanted.length; i++) {
      var base = String(wanted[i] || "").toLowerCase().split("-")[0];
      if (TEXTS[base]) { return base; }
    }
    return "en";
  }
  var LANG = pickLanguage();
  function t(name, values) {
    var text = TEXTS[LANG][name] || TEXTS.en[name] || name;
    Object.keys(values || {}).forEach(function (key) { text = text.split("{" + key + "}").join(String(values[key])); });
    return text;
  }

  // --- Storage (localStorage may be refused: private modes, blocked third-party storage) ------------------
  function load(store, name) { try { return store.getItem(name); } catch (e) { return null; } }
  function save(store, name, value) {
    try { if (value === null) { store.removeItem(name); } else { store.setItem(name, value); } } catch (e) { /* kept in memory */ }
  }
  function local() { try { return window.localStorage; } catch (e) { return null; } }
  function session() { try { return window.sessionStorage; } catch (e) { return null; } }
  var memoryToken = null;
  function getToken() { var store = local(); return (store && load(store, STORE)) || memoryToken; }
  function setToken(token) { memoryToken = token; var store = local(); if (store) { save(store, STORE, token); } }

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // --- Identity: data-user-* on the tag, or SwitchboardChat.identify({...}) -----------------------------------
  function identityFromTag() {
    var id = script.getAttribute("data-user-id");
    if (!id) { return null; }
    return {
      id: id, name: script.getAttribute("data-user-name") || "", email: script.getAttribute("data-user-email") || "",
      timestamp: script.getAttribute("data-user-timestamp") || "", signature: script.getAttribute("data-user-signature") || ""
    };
  }
  var identity = identityFromTag();

  // --- DOM helpers: elements are built, never parsed from strings -------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === false || value === null || value === undefined) { return; }
      if (name === "text") { node.textContent = value; } else if (name === "class") { node.className = value; } else { node.setAttribute(name, value === true ? "" : value); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }
  var ids = 0;
  function newId(name) { ids += 1; return "sb-" + name + "-" + ids; }
  function field(labelText, control, required) {
    var id = control.id || newId("field");
    control.id = id;
    if (required) { control.required = true; control.setAttribute("aria-required", "true"); }
    var label = el("label", {"for": id}, [document.createTextNode(labelText + (required ? "" : " " + t("optional")))]);
    label.appendChild(control);
    return label;
  }

  // --- State ----------------------------------------------------------------------------------------------
  var config = null;
  var ui = null;
  var socket = null;
  var welcomed = false;
  var stopped = false;        // 4403: never reconnect
  var attempts = 0;
  var reconnectTimer = null;
  var pending = {};           // client_id -> {text, node}, until acked; resent after a reconnect
  var pendingOrder = [];
  var shown = {};             // message id -> node
  var lastAgentId = 0;
  var readSent = 0;
  var readUpTo = 0;
  var unread = 0;
  var typing = false;
  var typingTimer = null;
  var agentTypingTimer = null;
  var online = null;
  var needPrechat = false;
  var prechat = null;
  var isOpen = false;

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN && welcomed) { socket.send(JSON.stringify(frame)); return true; }
    return false;
  }

  // --- Building the widget --------------------------------------------------------------------------------
  function build() {
    var host = el("div", {id: "switchboard-chat", "data-switchboard-chat": KEY});
    var root = host.attachShadow ? host.attachShadow({mode: "open"}) : host;
    root.appendChild(el("link", {rel: "stylesheet", href: ORIGIN + "/chat/widget.css"}));
    var wrap = el("div", {"class": "sb", lang: LANG});
    root.appendChild(wrap);
    var colours = config.colours || {};
    if (colours.primary) { wrap.style.setProperty("--sb-primary", colours.primary); }
    if (colours.text) { wrap.style.setProperty("--sb-on-primary", colours.text); }

    var panelId = newId("panel");
    var titleId = newId("title");
    var badge = el("span", {"class": "sb-badge", hidden: true, "aria-hidden": "true"});
    var badgeText = el("span", {"class": "sb-visually-hidden"});
    var launcher = el("button", {type: "button", "class": "sb-launcher", "aria-expanded": "false", "aria-controls": panelId},
      [el("span", {text: t("launcher")}), badge, badgeText]);

    var closeButton = el("button", {type: "button", "aria-label": t("close"), title: t("close"), text: "×"});
    var endButton = el("button", {type: "button", text: t("end")});
    var head = el("div", {"class": "sb-head"}, [el("h2", {"class": "sb-title", id: titleId, text: config.name || t("title")}), endButton, closeButton]);
    var status = el("p", {"class": "sb-status", role: "status", text: t("connecting")});

    var greeting = el("p", {"class": "sb-greeting", text: config.greeting || ""});
    var log = el("ol", {"class": "sb-messages", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": config.name || t("title")});
    var typingLine = el("p", {"class": "sb-typing", "aria-live": "polite"});
    var note = el("p", {"class": "sb-note", role: "status", hidden: true});
    var error = el("p", {"class": "sb-error", role: "alert", hidden: true});

    var textarea = el("textarea", {rows: "2", maxlength: String(config.max_message_chars || 2000), autocomplete: "off", "aria-label": t("message"), placeholder: t("message")});
    var sendButton = el("button", {type: "submit", "class": "sb-primary", text: t("send")});
    var compose = el("form", {"class": "sb-compose", novalidate: true}, [textarea, sendButton]);
    var transcriptButton = el("button", {type: "button", "class": "sb-secondary", text: t("transcript"), hidden: !config.transcripts});
    var tools = el("div", {"class": "sb-tools"}, [transcriptButton]);
    // The greeting and the log scroll together; the log alone is live, so the greeting is not read out again.
    var chatView = el("div", {"class": "sb-body"}, [el("div", {"class": "sb-scroll"}, [greeting, log]), typingLine, note, error, compose, tools]);

    var prechatForm = buildPrechat();
    var leaveForm = buildLeave();
    var transcriptForm = buildTranscript();

    var panel = el("div", {"class": "sb-panel", id: panelId, role: "dialog", "aria-modal": "false", "aria-labelledby": titleId, hidden: true},
      [head, status, prechatForm.node, leaveForm.node, transcriptForm.node, chatView]);
    wrap.appendChild(launcher);
    wrap.appendChild(panel);
    document.body.appendChild(host);

    ui = {
      host: host, launcher: launcher, badge: badge, badgeText: badgeText, panel: panel, status: status, log: log,
      scroller: chatView.firstChild, typing: typingLine, note: note, error: error, textarea: textarea, send: sendButton,
      compose: compose, chat: chatView, end: endButton, transcriptButton: transcriptButton,
      prechat: prechatForm, leave: leaveForm, transcript: transcriptForm
    };

    launcher.addEventListener("click", function () { if (isOpen) { close(); } else { open(); } });
    closeButton.addEventListener("click", close);
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { event.preventDefault(); close(); }
    });
    compose.addEventListener("submit", function (event) { event.preventDefault(); sendMessage(); });
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); sendMessage(); }
    });
    textarea.addEventListener("input", onTyping);
    endButton.addEventListener("click", function () { if (send({type: "end"})) { endButton.disabled = true; } });
    transcriptButton.addEventListener("click", function () { show("transcript"); });
    document.addEventListener("visibilitychange", markRead);
  }

  function buildPrechat() {
    var pc = config.prechat || {};
    var name = el("input", {type: "text", autocomplete: "name", maxlength: "200"});
    var email = el("input", {type: "email", autocomplete: "email", maxlength: "254"});
    var topic = el("select", {});
    topic.appendChild(el("option", {value: "", text: t("choose")}));
    (pc.topics || []).forEach(function (item) { topic.appendChild(el("option", {value: item, text: item})); });
    var form = el("form", {"class": "sb-form", hidden: true}, [
      el("p", {text: t("prechatIntro")}),
      pc.name && pc.name !== "off" ? field(t("name"), name, pc.name === "required") : null,
      pc.email && pc.email !== "off" ? field(t("email"), email, pc.email === "required") : null,
      pc.topic && pc.topic !== "off" ? field(t("topic"), topic, pc.topic === "required") : null,
      el("div", {"class": "sb-actions"}, [el("button", {type: "submit", "class": "sb-primary", text: t("start")})])
    ]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!form.reportValidity()) { return; }
      prechat = {name: name.value.trim(), email: email.value.trim(), topic: topic.value};
      needPrechat = false;
      show("chat");
      connect();
    });
    return {node: form};
  }

  function buildLeave() {
    var name = el("input", {type: "text", autocomplete: "name", maxlength: "200"});
    var email = el("input", {type: "email", autocomplete: "email", maxlength: "254"});
    var text = el("textarea", {maxlength: "2000"});
    var intro = el("p", {text: (config.offline_text || t("leaveIntro"))});
    var hours = el("p", {text: config.business_hours_text || "", hidden: !config.business_hours_text});
    var submit = el("button", {type: "submit", "class": "sb-primary", text: t("leave")});
    var form = el("form", {"class": "sb-form", hidden: true}, [intro, hours,
      field(t("name"), name, true), field(t("email"), email, true), field(t("message"), text, true),
      el("div", {"class": "sb-actions"}, [submit])]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!form.reportValidity()) { return; }
      if (send({type: "leave_message", name: name.value.trim(), email: email.value.trim(), text: text.value})) { submit.disabled = true; }
    });
    return {node: form, first: name, name: name, email: email, text: text, submit: submit};
  }

  function buildTranscript() {
    var email = el("input", {type: "email", autocomplete: "email", maxlength: "254"});
    var submit = el("button", {type: "submit", "class": "sb-primary", text: t("transcriptSend")});
    var cancel = el("button", {type: "button", "class": "sb-secondary", text: t("cancel")});
    var form = el("form", {"class": "sb-form", hidden: true}, [field(t("email"), email, true), el("div", {"class": "sb-actions"}, [submit, cancel])]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!form.reportValidity()) { return; }
      if (send({type: "transcript", email: email.value.trim()})) { submit.disabled = true; }
    });
    cancel.addEventListener("click", function () { show("chat"); ui.transcriptButton.focus(); });
    return {node: form, first: email, email: email, submit: submit};
  }

  // Which of the panel's views shows: the chat, the pre-chat form, leave a message, or the transcript form.
  function show(view) {
    ui.chat.hidden = view !== "chat";
    ui.prechat.node.hidden = view !== "prechat";
    ui.leave.node.hidden = view !== "leave";
    ui.transcript.node.hidden = view !== "transcript";
    ui.view = view;
    if (view === "transcript") { ui.transcript.submit.disabled = false; ui.transcript.first.focus(); }
    if (view === "leave" && isOpen) { ui.leave.first.focus(); }
  }

  function focusTarget() {
    if (ui.view === "prechat") { return ui.prechat.node.querySelector("input, select, button"); }
    if (ui.view === "leave") { return ui.leave.first; }
    if (ui.view === "transcript") { return ui.transcript.first; }
    return ui.textarea;
  }

  function open() {
    isOpen = true;
    ui.panel.hidden = false;
    ui.launcher.setAttribute("aria-expanded", "true");
    var store = session();
    if (store) { save(store, OPEN_STORE, "1"); }
    unread = 0;
    updateBadge();
    if (!socket && !stopped) {
      if (needPrechat) { show("prechat"); } else { connect(); }
    }
    var target = focusTarget();
    if (target) { target.focus(); }
    scrollDown();
    markRead();
  }

  function close() {
    isOpen = false;
    ui.panel.hidden = true;
    ui.launcher.setAttribute("aria-expanded", "false");
    var store = session();
    if (store) { save(store, OPEN_STORE, null); }
    stopTyping();
    ui.launcher.focus();
  }

  function updateBadge() {
    ui.badge.hidden = unread === 0;
    ui.badge.textContent = String(unread);
    ui.badgeText.textContent = unread ? ", " + t("newMessages", {n: unread}) : "";
  }

  function setStatus(text) { ui.status.textContent = text; }
  function showError(text) { ui.error.textContent = text; ui.error.hidden = !text; }
  function showNote(text) { ui.note.textContent = text; ui.note.hidden = !text; }
  function scrollDown() { if (ui.scroller) { ui.scroller.scrollTop = ui.scroller.scrollHeight; } }

  function setOnline(value) {
    online = !!value;
    setStatus(online ? t("online") : (config.offline_text || t("offline")) + (config.business_hours_text ? " " + config.business_hours_text : ""));
    if (!online && ui.view === "chat" && ui.log.childNodes.length === 0 && !pendingOrder.length) { offerLeave(""); }
    if (online && ui.view === "leave") { show("chat"); }
  }

  function offerLeave(text) {
    if (!config.leave_message) { showNote(t("noMailbox")); return; }
    if (text) { ui.leave.text.value = text; }
    ui.leave.submit.disabled = false;
    show("leave");
  }

  // --- Messages ---------------------------------------------------------------------------------------------
  function timeOf(at) {
    var date = at ? new Date(at) : new Date();
    try { return date.toLocaleTimeString(LANG, {hour: "2-digit", minute: "2-digit"}); } catch (e) { return ""; }
  }

  function messageNode(from, author, text, at) {
    var meta = el("span", {"class": "sb-meta"});
    var who = from === "visitor" ? t("you") : (author || t("agent"));
    var node = el("li", {"class": "sb-msg " + (from === "visitor" ? "sb-visitor" : "sb-agent")}, [
      el("span", {"class": "sb-visually-hidden", text: who + ": "}),
      el("span", {"class": "sb-bubble", text: text}),
      meta
    ]);
    node.sbMeta = meta;
    node.sbWho = who;
    node.sbTime = timeOf(at);
    setMeta(node, "");
    return node;
  }

  function setMeta(node, state) {
    var parts = [node.sbWho, node.sbTime];
    if (state) { parts.push(state); }
    node.sbMeta.textContent = parts.filter(Boolean).join(" · ");
    node.sbState = state;
  }

  function showMessage(frame) {
    if (frame.id && shown[frame.id]) { return; }
    var mine = frame.client_id && pending[frame.client_id];
    if (mine) {  // ours, stored though its ack was lost (or from the history after a reconnect): in its place
      acked(frame.client_id, frame.id);
      ui.log.appendChild(mine.node);
      return;
    }
    var node = messageNode(frame.from, frame.author, frame.text, frame.at);
    node.sbId = frame.id;
    if (frame.from === "visitor") { setMeta(node, frame.id <= readUpTo ? t("read") : t("sent")); }
    shown[frame.id] = node;
    ui.log.appendChild(node);
    if (frame.from === "agent") {
      lastAgentId = Math.max(lastAgentId, frame.id);
      hideAgentTyping();
      if (!isOpen) { unread += 1; updateBadge(); }
      markRead();
    }
    scrollDown();
  }

  function acked(clientId, id) {
    var item = pending[clientId];
    if (!item) { return; }
    delete pending[clientId];
    pendingOrder = pendingOrder.filter(function (other) { return other !== clientId; });
    item.node.sbId = id;
    item.node.classList.remove("sb-failed");
    setMeta(item.node, id <= readUpTo ? t("read") : t("sent"));
    if (id) { shown[id] = item.node; }
  }

  function sendMessage() {
    var text = ui.textarea.value.trim();
    if (!text) { return; }
    showError("");
    var clientId = uuid();
    var node = messageNode("visitor", "", text);
    setMeta(node, t("sending"));
    pending[clientId] = {text: text, node: node};
    pendingOrder.push(clientId);
    ui.log.appendChild(node);
    ui.textarea.value = "";
    stopTyping();
    scrollDown();
    showNote("");
    ui.end.disabled = false;
    if (!socket && !stopped) { connect(); return; }  // sent once welcomed
    send({type: "message", client_id: clientId, text: text});
  }

  function refused(clientId) {
    var item = pending[clientId];
    if (!item) { return ""; }
    delete pending[clientId];
    pendingOrder = pendingOrder.filter(function (other) { return other !== clientId; });
    if (item.node.parentNode) { item.node.parentNode.removeChild(item.node); }
    return item.text;
  }

  function restore(text) {
    if (text && !ui.textarea.value) { ui.textarea.value = text; }
  }

  function markRead() {
    if (!isOpen || document.visibilityState === "hidden" || lastAgentId <= readSent) { return; }
    if (send({type: "read", up_to: lastAgentId})) { readSent = lastAgentId; }
  }

  function markReadUpTo(upTo) {
    readUpTo = Math.max(readUpTo, upTo);
    Object.keys(shown).forEach(function (id) {
      var node = shown[id];
      if (node.classList.contains("sb-visitor") && Number(id) <= readUpTo) { setMeta(node, t("read")); }
    });
  }

  // --- Typing ---------------------------------------------------------------------------------------------
  function onTyping() {
    if (!ui.textarea.value) { stopTyping(); return; }
    if (!typing) { typing = send({type: "typing", on: true}); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }
  function stopTyping() {
    clearTimeout(typingTimer);
    if (typing) { send({type: "typing", on: false}); typing = false; }
  }
  function showAgentTyping(on, author) {
    clearTimeout(agentTypingTimer);
    if (!on) { hideAgentTyping(); return; }
    ui.typing.textContent = t("typing", {name: author || t("agent")});
    agentTypingTimer = setTimeout(hideAgentTyping, AGENT_TYPING_MAX_MS);
  }
  function hideAgentTyping() { clearTimeout(agentTypingTimer); ui.typing.textContent = ""; }

  // --- The socket ------------------------------------------------------------------------------------------
  function connect() {
    if (stopped || (socket && socket.readyState <= WebSocket.OPEN)) { return; }
    clearTimeout(reconnectTimer);
    welcomed = false;
    setStatus(attempts ? t("reconnecting") : t("connecting"));
    var ws;
    try { ws = new WebSocket(SOCKET_URL); } catch (e) { scheduleReconnect(); return; }
    socket = ws;
    ws.addEventListener("open", function () {
      ws.send(JSON.stringify({type: "hello", token: getToken(), identity: identity, prechat: prechat, lang: LANG}));
    });
    ws.addEventListener("message", function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame && typeof frame.type === "string") { onFrame(frame); }
    });
    ws.addEventListener("close", function (event) {
      if (socket !== ws) { return; }
      socket = null;
      welcomed = false;
      typing = false;
      if (event.code === 4403) {
        stopped = true;
        setStatus(t("notAllowed"));
        return;
      }
      if (event.code === 4401) { setToken(null); attempts = 0; connect(); return; }  // start a new visitor
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    var base = BACKOFF_MS[Math.min(attempts, BACKOFF_MS.length - 1)];
    attempts += 1;
    setStatus(t("reconnecting"));
    reconnectTimer = setTimeout(connect, base / 2 + Math.random() * base / 2);  // jitter: not all tabs at once
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "welcome": onWelcome(frame); break;
      case "message": showMessage(frame); break;
      case "ack": acked(frame.client_id, frame.id); break;
      case "typing": showAgentTyping(!!frame.on, frame.author); break;
      case "read": markReadUpTo(Number(frame.up_to) || 0); break;
      case "status": setOnline(frame.online); break;
      case "left":
        ui.leave.text.value = "";
        show("chat");
        showNote(t("left"));
        break;
      case "transcript_sent": show("chat"); showNote(t("transcriptSent")); ui.transcriptButton.focus(); break;
      case "ended":
        ui.log.textContent = "";
        shown = {};
        lastAgentId = 0;
        readSent = 0;
        showNote(t("ended"));
        break;
      case "error": onError(frame); break;
      default: break;
    }
  }

  function onWelcome(frame) {
    welcomed = true;
    attempts = 0;
    if (frame.token) { setToken(frame.token); }
    // The history is the truth after a (re)connect: redraw it, then what is still waiting for its ack.
    ui.log.textContent = "";
    shown = {};
    var waiting = pendingOrder.slice();
    (frame.history || []).forEach(showMessage);
    waiting.forEach(function (clientId) {
      var item = pending[clientId];
      if (!item) { return; }
      ui.log.appendChild(item.node);
      send({type: "message", client_id: clientId, text: item.text});  // the same client_id: stored once
    });
    if (frame.visitor && frame.visitor.verified && frame.visitor.name) { showNote(t("verified", {name: frame.visitor.name})); }
    ui.end.disabled = !(frame.history && frame.history.length);
    setOnline(frame.online);
    scrollDown();
    markRead();
  }

  function onError(frame) {
    var code = frame.code;
    var text = frame.client_id ? refused(frame.client_id) : "";
    ui.transcript.submit.disabled = false;
    ui.leave.submit.disabled = false;
    if (code === "offline") { offerLeave(text); return; }
    restore(text);
    if (code === "too_long") { showError(t("tooLong", {n: config.max_message_chars || 2000})); return; }
    if (code === "rate_limited") { showError(t("rateLimited", {s: frame.retry_after || 60})); return; }
    showError(frame.message || code);  // the server's English sentence
  }

  // --- Start --------------------------------------------------------------------------------------------------
  function start() {
    fetch(ORIGIN + "/chat/" + encodeURIComponent(KEY) + "/config/", {mode: "cors", credentials: "omit"})
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) { throw new Error(body && body.error ? body.error : "HTTP " + response.status); }
          return body;
        });
      })
      .then(function (body) {
        config = body;
        var pc = config.prechat || {};
        needPrechat = !getToken() && !identity && [pc.name, pc.email, pc.topic].some(function (v) { return v && v !== "off"; });
        build();
        show(needPrechat ? "prechat" : "chat");
        online = config.online;
        var store = session();
        if (store && load(store, OPEN_STORE)) { open(); } else if (getToken()) { connect(); }
        document.dispatchEvent(new CustomEvent("switchboard:chat-ready", {detail: {channel: KEY}}));
      })
      .catch(function (error) {
        if (window.console) { window.console.warn("Switchboard chat: " + error.message); }
      });
  }

  window.SwitchboardChat = {
    loaded: true,
    open: function () { if (ui) { open(); } },
    close: function () { if (ui) { close(); } },
    /* Tell the chat who the signed-in visitor is: {id, name, email, timestamp, signature}, signed on your server
       (docs/chat.md). An open connection starts again with it, so the server checks it in a new hello. */
    identify: function (claim) {
      identity = claim ? {
        id: String(claim.id || ""), name: String(claim.name || ""), email: String(claim.email || ""),
        timestamp: String(claim.timestamp || ""), signature: String(claim.signature || "")
      } : null;
      needPrechat = false;
      if (socket) { var old = socket; socket = null; old.close(); connect(); }
    }
  };

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
