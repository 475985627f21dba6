// The card page (templates/billing/card_add.html): Stripe Elements collects the card and confirms the
// SetupIntent in the browser, then the form posts the SetupIntent's id. A file, not an inline script,
// so the Content-Security-Policy needs no 'unsafe-inline'. The keys come from json_script blocks.
(function () {
  "use strict";

  function start() {
    var form = document.getElementById("card-form");
    if (!form || typeof Stripe === "undefined") {
      return;
    }
    var stripe = Stripe(JSON.parse(document.getElementById("publishable-key").textContent));
    var card = stripe.elements().create("card");
    card.mount("#card-element");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var secret = JSON.parse(document.getElementById("client-secret").textContent);
      var result = await stripe.confirmCardSetup(secret, { payment_method: { card: card } });
      if (result.error) {
        document.getElementById("card-errors").textContent = result.error.message;
        return;
      }
      event.target.submit();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
