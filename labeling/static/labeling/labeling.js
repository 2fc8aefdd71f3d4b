/* Keyboard shortcuts for the labeling pages. Progressive enhancement: without this file every
   form works with the mouse. Keys are ignored while typing in a text field (Esc leaves it), and
   a form submits at most once.
   - label page: 1-9 pick an answer (toggle for multi-select), Enter submits, s skips, ? rubric.
   - review page: a accept, c correct (then 1-9 and Enter), r reject.
   - spot-check page: a accept, c correct (then 1-9 and Enter), r reject, arrows move. */
(function () {
  "use strict";

  function isTyping(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "textarea" || tag === "select" || target.isContentEditable ||
      (tag === "input" && !/^(button|submit|checkbox|radio|reset)$/i.test(target.type));
  }

  function guard(form) {
    var sent = false;
    form.addEventListener("submit", function (event) {
      if (sent) { event.preventDefault(); return; }
      sent = true;
      form.classList.add("is-submitting");
    });
  }

  function send(form, submitter) {
    if (form.requestSubmit) form.requestSubmit(submitter || undefined);
    else if (submitter) submitter.click();
    else form.submit();
  }

  function pick(scope, key) {
    var input = scope.querySelector('input[data-key="' + key + '"]');
    if (!input) return false;
    input.checked = input.type === "checkbox" ? !input.checked : true;
    input.focus({ preventScroll: true });
    return true;
  }

  function onKeys(handler) {
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing || event.repeat) return;
      if (isTyping(event.target)) {
        if (event.key === "Escape") event.target.blur();
        return;
      }
      if (event.key === "?") {
        var guide = document.getElementById("guidelines");
        if (guide) { guide.open = !guide.open; event.preventDefault(); }
        return;
      }
      if (handler(event.key)) event.preventDefault();
    });
  }

  var labelForm = document.getElementById("label-form");
  if (labelForm) {
    var started = Date.now();
    guard(labelForm);
    labelForm.addEventListener("submit", function () {
      labelForm.elements.seconds.value = ((Date.now() - started) / 1000).toFixed(1);
    });
    onKeys(function (key) {
      if (/^[1-9]$/.test(key)) return pick(labelForm, key);
      if (key === "Enter") { send(labelForm, labelForm.querySelector("[data-submit]")); return true; }
      if (key === "s" || key === "S") { send(labelForm, labelForm.querySelector("button.skip")); return true; }
      return false;
    });
    return;
  }

  var reviewForm = document.getElementById("review-form");
  if (reviewForm) {
    guard(reviewForm);
    var box = reviewForm.querySelector(".lb-correction");
    var openBox = function () {
      box.hidden = false;
      var first = box.querySelector("input, textarea");
      if (first) first.focus();
    };
    reviewForm.querySelector("[data-show-correction]").addEventListener("click", openBox);
    onKeys(function (key) {
      if (!box.hidden && /^[1-9]$/.test(key)) return pick(box, key);
      if (!box.hidden && key === "Enter") { send(reviewForm, box.querySelector("[data-correct-submit]")); return true; }
      if (key === "c" || key === "C") { openBox(); return true; }
      var button = reviewForm.querySelector('button[type="submit"][data-key="' + key.toLowerCase() + '"]');
      if (!button) return false;
      send(reviewForm, button);
      return true;
    });
    return;
  }

  var spot = document.getElementById("spotcheck");
  if (!spot) return;
  var entries = Array.prototype.slice.call(spot.querySelectorAll(".lb-entry"));
  var at = Math.min(parseInt(spot.getAttribute("data-at") || "0", 10) || 0, entries.length - 1);
  entries.forEach(function (entry) {
    var form = entry.querySelector("form");
    guard(form);
    entry.querySelector("[data-show-correction]").addEventListener("click", function () {
      openCorrection(entry);
    });
  });

  function current() { return entries[at]; }
  function show(index) {
    if (index < 0 || index >= entries.length) return;
    entries[at].hidden = true;
    at = index;
    entries[at].hidden = false;
    if (window.history && history.replaceState) {
      history.replaceState(null, "", "?at=" + at);
    }
  }
  function openCorrection(entry) {
    var box = entry.querySelector(".lb-correction");
    box.hidden = false;
    var first = box.querySelector("input, textarea");
    if (first) first.focus();
  }

  onKeys(function (key) {
    var entry = current();
    if (!entry) return false;
    var form = entry.querySelector("form");
    var correcting = !entry.querySelector(".lb-correction").hidden;
    if (key === "ArrowRight") { show(at + 1); return true; }
    if (key === "ArrowLeft") { show(at - 1); return true; }
    if (correcting && /^[1-9]$/.test(key)) return pick(entry.querySelector(".lb-correction"), key);
    if (correcting && key === "Enter") { send(form, form.querySelector("[data-correct-submit]")); return true; }
    if (key === "a" || key === "A") { send(form, form.querySelector('[data-verdict="a"]')); return true; }
    if (key === "r" || key === "R") { send(form, form.querySelector('[data-verdict="r"]')); return true; }
    if (key === "c" || key === "C") { openCorrection(entry); return true; }
    return false;
  });
})();
