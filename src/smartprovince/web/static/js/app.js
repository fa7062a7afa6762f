/* Small behaviours shared by every page (no framework besides htmx). */
(function () {
  "use strict";
  // Ask before destructive actions: <form data-confirm="Bạn chắc chắn?">.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
  // Organisation tree: expand / collapse a node's children.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-toggle-tree]");
    if (!button) { return; }
    var item = button.closest("li");
    var list = item && item.querySelector(":scope > div:not(.node)");
    if (!list) { return; }
    var open = button.getAttribute("aria-expanded") === "true";
    button.setAttribute("aria-expanded", open ? "false" : "true");
    item.setAttribute("aria-expanded", open ? "false" : "true");
    button.classList.toggle("collapsed", open);
    list.hidden = open;
  });
  // htmx: show server error pages (4xx with HTML) instead of ignoring them.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 422 || status === 409 || status === 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
