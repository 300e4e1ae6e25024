// Ringing offers in the inbox: a countdown, a short tone made with the Web Audio API (no audio file),
// and a browser notification once the agent has allowed them (asked on a click, as browsers require).
// The offer region itself is server-rendered; live.js re-fetches it when an "offers" event arrives.
(function () {
  "use strict";
  var region = document.querySelector("[data-live-offers]");
  if (!region) { return; }
  var seen = new Set();
  var audio = null;

  function ring() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    try {
      audio = audio || new Context();
      [0, 0.25].forEach(function (start) {  // two short beeps
        var tone = audio.createOscillator();
        var gain = audio.createGain();
        tone.frequency.value = 880;
        gain.gain.setValueAtTime(0.15, audio.currentTime + start);
        gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + start + 0.2);
        tone.connect(gain).connect(audio.destination);
        tone.start(audio.currentTime + start);
        tone.stop(audio.currentTime + start + 0.2);
      });
    } catch (error) { /* a browser that refuses audio still shows the offer */ }
  }

  function notify(card) {
    if (!("Notification" in window) || Notification.permission !== "granted" || document.visibilityState === "visible") {
      return;
    }
    var note = new Notification("Switchboard: a conversation is offered to you", {
      body: "Accept or decline it in your inbox.", tag: "offer-" + card.getAttribute("data-offer")
    });
    note.onclick = function () { window.focus(); note.close(); };
  }

  function look() {
    region.querySelectorAll("[data-offer]").forEach(function (card) {
      var id = card.getAttribute("data-offer");
      if (seen.has(id)) { return; }
      seen.add(id);
      ring();
      notify(card);
    });
  }

  function tick() {
    region.querySelectorAll("[data-offer]").forEach(function (card) {
      var left = Math.max(0, Math.round((new Date(card.getAttribute("data-offer-expires")) - new Date()) / 1000));
      var clock = card.querySelector("[data-offer-countdown]");
      if (clock) { clock.textContent = left + " s"; }
      card.classList.toggle("expired", left === 0);
    });
  }

  document.addEventListener("switchboard:refreshed", function (event) { if (event.detail === region) { look(); tick(); } });
  setInterval(tick, 1000);
  look();
  tick();

  var ask = document.querySelector("[data-notify-offers]");
  if (ask && "Notification" in window && Notification.permission === "default") {
    ask.hidden = false;
    ask.querySelector("[data-enable-notifications]").addEventListener("click", function () {
      Notification.requestPermission().then(function () { ask.hidden = true; });
    });
  }
})();
