// A <select data-autosubmit> submits its form when changed (the owner's market filter): in a file,
// not an onchange attribute, so the Content-Security-Policy needs no 'unsafe-inline'.
document.addEventListener("change", function (event) {
  "use strict";
  var el = event.target;
  if (el instanceof HTMLSelectElement && el.hasAttribute("data-autosubmit") && el.form) {
    el.form.submit();
  }
});
