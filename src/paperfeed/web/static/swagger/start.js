// Starts Swagger UI on /api/docs from the vendored bundle (no CDN, no inline script: the CSP forbids both).
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  // validatorUrl null: the UI would otherwise ask validator.swagger.io about our spec
  window.ui = SwaggerUIBundle({ url: root.dataset.spec, dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null });
});
