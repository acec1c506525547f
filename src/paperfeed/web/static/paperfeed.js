// Copy buttons (the BibTeX, the share link): shown only where JavaScript runs; the link or field beside each
// works without it.
(function () {
  function copy(button) {
    var text = button.getAttribute("data-copy-text");
    var url = button.getAttribute("data-copy-url");
    var got = text !== null ? Promise.resolve(text) : fetch(url).then(function (r) { return r.text(); });
    got.then(function (value) { return navigator.clipboard.writeText(value); })
      .then(function () { button.textContent = "Copied"; })
      .catch(function () { button.textContent = "Copy failed: use the link"; });
  }
  function start() {
    document.querySelectorAll("button.copy").forEach(function (button) {
      if (!navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () { copy(button); });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

// Keyboard shortcuts on lists of papers (documented on /help): j / k move between papers, o opens the current
// one, u upvotes it where an upvote button is shown, / goes to the search box. Never while typing in a field.
(function () {
  var current = -1;
  function cards() { return document.querySelectorAll("li.paper, li.result"); }
  function select(i) {
    var all = cards();
    if (!all.length) return;
    if (current >= 0 && all[current]) all[current].classList.remove("current");
    current = Math.max(0, Math.min(all.length - 1, i));
    all[current].classList.add("current");
    all[current].scrollIntoView({ block: "nearest" });
    var link = all[current].querySelector("a.title");
    if (link) link.focus({ preventScroll: true });
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    var all = cards();
    if (event.key === "/") {
      var box = document.querySelector("input[type=search]");
      if (box) { event.preventDefault(); box.focus(); }
    } else if (event.key === "j") {
      select(current + 1);
    } else if (event.key === "k") {
      select(current - 1);
    } else if (event.key === "o" && all[current]) {
      var link = all[current].querySelector("a.title");
      if (link) window.location.href = link.href;
    } else if (event.key === "u") {
      var button = (all[current] || document).querySelector("button.upvote");
      if (button) button.click();
    } else if (event.key === "?") {
      window.location.href = "/help";
    }
  });
})();
