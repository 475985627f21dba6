// Counts down every [data-countdown="<ISO instant>"] element to that instant, once a second:
// "42 s left", "1 min 05 s left", then its data-expired-text. A file, not an inline script, so a
// Content-Security-Policy without 'unsafe-inline' still allows it. The page's own text (rendered
// by the server) is what a browser without JavaScript shows.
(function () {
  "use strict";

  function left(seconds) {
    if (seconds >= 60) {
      var s = seconds % 60;
      return Math.floor(seconds / 60) + " min " + (s < 10 ? "0" : "") + s + " s left";
    }
    return seconds + " s left";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var until = Date.parse(el.getAttribute("data-countdown"));
      if (isNaN(until)) {
        return;
      }
      var seconds = Math.ceil((until - now) / 1000);
      el.textContent = seconds > 0 ? left(seconds) : el.getAttribute("data-expired-text") || "expired";
      el.classList.toggle("expired", seconds <= 0);
    });
  }

  function start() {
    tick();
    window.setInterval(tick, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
