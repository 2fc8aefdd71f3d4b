/* Keyboard shortcuts for the rating page. Progressive enhancement: without this file the
   buttons and the form work the same. Keys are ignored while typing in a text field, and the
   page submits at most once (a held key or a double click never sends a second vote). */
(function () {
  "use strict";
  var form = document.getElementById("vote-form");
  if (!form) return;
  var guidelines = document.getElementById("guidelines");
  var submitted = false;

  var choiceForKey = {
    "1": "left", ArrowLeft: "left",
    "2": "right", ArrowRight: "right",
    "3": "tie", t: "tie", T: "tie",
    "4": "both_bad", b: "both_bad", B: "both_bad"
  };

  function buttonFor(key) {
    var choice = choiceForKey[key];
    if (choice) return form.querySelector('button[name="choice"][value="' + choice + '"]');
    if (key === "s" || key === "S") return form.querySelector("button.skip");
    return null;
  }

  function isTyping(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "textarea" || tag === "select" || target.isContentEditable ||
      (tag === "input" && !/^(button|submit|checkbox|radio|reset)$/i.test(target.type));
  }

  form.addEventListener("submit", function (event) {
    if (submitted) {
      event.preventDefault();
      return;
    }
    submitted = true;
    form.classList.add("is-submitting");
    if (event.submitter) event.submitter.classList.add("pressed");
  });

  // Coming back with the Back button restores this page from cache: let it submit again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    submitted = false;
    form.classList.remove("is-submitting");
    var pressed = form.querySelectorAll(".pressed");
    for (var i = 0; i < pressed.length; i++) pressed[i].classList.remove("pressed");
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (isTyping(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.key === "?") {
      if (guidelines) {
        guidelines.open = !guidelines.open;
        event.preventDefault();
      }
      return;
    }
    if (event.repeat || submitted) return;
    var submitter = buttonFor(event.key);
    if (!submitter) return;
    event.preventDefault();
    if (form.requestSubmit) {
      form.requestSubmit(submitter);
    } else {
      submitter.click();
    }
  });
})();
