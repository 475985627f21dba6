// Starts Swagger UI on /api/v1/docs (templates/api/docs.html). A file, not an inline script: the
// site's Content-Security-Policy allows scripts from this site only. "Try it out" sends the signed-in
// session (same origin) with the page's CSRF token; no validator badge (it would load an outside image).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  var csrf = root.getAttribute("data-csrf-token") || "";
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-schema-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    persistAuthorization: false,
    requestInterceptor: function (request) {
      var method = (request.method || "GET").toUpperCase();
      if (csrf && method !== "GET" && method !== "HEAD" && method !== "OPTIONS") {
        request.headers["X-CSRFToken"] = csrf;
      }
      request.credentials = "same-origin";
      return request;
    },
  });
})();
