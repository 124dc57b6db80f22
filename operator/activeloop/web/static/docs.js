// The REST API page: Swagger UI over this server's OpenAPI document (the session cookie signs the
// requests that "Try it out" sends; a change also needs the page's CSRF token, so it is sent too).
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.openapi,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
