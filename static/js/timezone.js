// The browser's time zone for the portal (issue 15): in a file, not inline, for the
// Content-Security-Policy (marketplace/lib/csp.py).
// - <meta name="timezone-report" content="URL" data-csrf="..."> (base.html, only while the user has
//   chosen no zone): post the browser's zone there once; the server takes it only if still unset.
// - [data-browser-timezone="always"] (the sign-up's hidden field): filled with the browser's zone.
// - [data-browser-timezone="if-empty"] (the settings' select): set to it while nothing is chosen.
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!zone) {
    return;
  }

  function fill() {
    document.querySelectorAll("[data-browser-timezone]").forEach(function (el) {
      var mode = el.getAttribute("data-browser-timezone");
      if (mode === "always" || (mode === "if-empty" && !el.value)) {
        if (el instanceof HTMLSelectElement && !Array.prototype.some.call(el.options, function (o) { return o.value === zone; })) {
          return;
        }
        el.value = zone;
      }
    });
  }

  function report() {
    var meta = document.querySelector('meta[name="timezone-report"]');
    if (!meta || !window.fetch) {
      return;
    }
    var key = "timezone-reported";
    try {
      if (window.sessionStorage.getItem(key)) {
        return;
      }
      window.sessionStorage.setItem(key, zone);
    } catch (e) {
      // no storage (private mode): the server's check keeps it to one change anyway
    }
    var body = new URLSearchParams();
    body.set("timezone", zone);
    window.fetch(meta.getAttribute("content"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": meta.getAttribute("data-csrf") || "" },
      body: body
    }).then(function (answer) {
      return answer.ok ? answer.json() : null;
    }).then(function (data) {
      var note = document.getElementById("time-zone-name");
      if (data && data.taken && note) {
        note.textContent = data.timezone + " (from your browser, from the next page on)";
      }
    }).catch(function () {});
  }

  function start() {
    fill();
    report();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
