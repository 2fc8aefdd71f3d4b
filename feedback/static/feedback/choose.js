/* Keyboard shortcuts for the n-way choice page: an answer's number picks it, n = none is good,
   s = skip, ? = guidelines. The form submits at most once. */
(function () {
  "use strict";
  var form = document.getElementById("choice-form");
  if (!form) return;
  var shownAt = performance.now();
  var submitted = false;
  var guidelines = document.getElementById("guidelines");

  form.addEventListener("submit", function (event) {
    if (submitted) {
      event.preventDefault();
      return;
    }
    submitted = true;
    form.querySelector('input[name="pick_ms"]').value = String(Math.round(performance.now() - shownAt));
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat || submitted) return;
    var tag = event.target && event.target.tagName ? event.target.tagName.toLowerCase() : "";
    if (tag === "textarea" || tag === "input") return;
    if (event.key === "?" && guidelines) {
      guidelines.open = !guidelines.open;
      return;
    }
    var key = event.key.toLowerCase();
    var button = form.querySelector('button[data-key="' + key + '"]');
    if (!button) return;
    event.preventDefault();
    if (form.requestSubmit) form.requestSubmit(button); else button.click();
  });
})();
