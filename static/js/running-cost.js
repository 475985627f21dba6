// Counts up every [data-rate-per-second] element, once a second: the booking's cost so far is
// data-amount (minor units) at data-since, growing by data-rate-per-second up to data-ceiling, shown
// as the server shows money ("12.34 EUR", data-currency-exponent decimals). The server computes all of
// these from billing's own charge; each htmx poll swaps in fresh ones, so the count is re-synchronised
// every few seconds. A file, not an inline script, for the Content-Security-Policy.
(function () {
  "use strict";

  function show(minor, exponent, currency) {
    return (minor / Math.pow(10, exponent)).toFixed(exponent) + " " + currency;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-rate-per-second]").forEach(function (el) {
      var amount = parseInt(el.getAttribute("data-amount"), 10);
      var rate = parseFloat(el.getAttribute("data-rate-per-second"));
      var since = Date.parse(el.getAttribute("data-since"));
      var ceiling = parseInt(el.getAttribute("data-ceiling"), 10);
      var exponent = parseInt(el.getAttribute("data-currency-exponent"), 10);
      if (isNaN(amount) || isNaN(rate) || isNaN(since) || isNaN(exponent)) {
        return;
      }
      var seconds = Math.max(0, (now - since) / 1000);
      var value = Math.round(amount + rate * seconds);
      if (!isNaN(ceiling)) {
        value = Math.min(value, ceiling);
      }
      el.textContent = show(Math.max(value, amount), exponent, el.getAttribute("data-currency"));
    });
  }

  function start() {
    tick();
    window.setInterval(tick, 1000);
    // A poll's fresh figures are shown at once, not at the next second.
    document.body.addEventListener("htmx:afterSettle", tick);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
