// Render $...$ and \(...\) math in titles and abstracts with the vendored KaTeX. The raw LaTeX stays in the
// page source (and in search), and pages read fine without JavaScript.
document.addEventListener("DOMContentLoaded", function () {
  if (typeof renderMathInElement !== "function") return;
  document.querySelectorAll(".math").forEach(function (el) {
    renderMathInElement(el, {
      delimiters: [
        { left: "$$", right: "$$", display: false },
        { left: "$", right: "$", display: false },
        { left: "\\(", right: "\\)", display: false },
      ],
      throwOnError: false,
      trust: false,
    });
  });
});
