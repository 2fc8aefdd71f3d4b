/* The agent workbench: keyboard picks, suggestions fetched in one piece, send once.
   Keys (outside the text box): 1-4 pick a suggestion (its text goes into the reply box),
   n none usable, r try generating again; Ctrl+Enter (or Cmd+Enter) sends from anywhere;
   Esc leaves the text box. Without this file the page still works with the mouse. */
(function () {
  "use strict";
  var start = document.getElementById("start");
  var form = document.getElementById("reply-form");
  if (!form) {
    if (start) start.focus();
    return;
  }
  var reply = document.getElementById("reply");
  var body = document.getElementById("suggestions-body");
  var pickField = form.querySelector('input[name="pick_ms"]');
  var sendError = document.getElementById("send-error");
  var shownAt = null;
  var lastFilled = null;
  var submitted = false;
  var loading = false;

  function isTyping(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "textarea" || tag === "select" || target.isContentEditable ||
      (tag === "input" && !/^(button|submit|checkbox|radio|reset|hidden)$/i.test(target.type));
  }

  function card(key) {
    return body.querySelector('.wb-card[data-key="' + key + '"]');
  }

  function highlight() {
    var all = body.querySelectorAll(".wb-card");
    for (var i = 0; i < all.length; i++) {
      var radio = all[i].querySelector('input[type="radio"]');
      all[i].classList.toggle("is-picked", !!(radio && radio.checked));
    }
  }

  function showError(message) {
    sendError.textContent = message;
    sendError.hidden = !message;
  }

  function select(key) {
    var chosen = card(key);
    if (!chosen) return false;
    chosen.querySelector('input[type="radio"]').checked = true;
    highlight();
    if (key === "n") {
      if (reply.value === lastFilled) reply.value = "";
      lastFilled = null;
    } else {
      var text = chosen.querySelector("template.wb-text").content.textContent.trim();
      reply.value = text;
      lastFilled = text;
    }
    if (shownAt !== null) pickField.value = String(Math.round(performance.now() - shownAt));
    showError("");
    reply.focus();
    reply.setSelectionRange(reply.value.length, reply.value.length);
    return true;
  }

  function showFailure(message) {
    body.innerHTML = "";
    var box = document.createElement("div");
    box.className = "wb-unavailable";
    box.setAttribute("role", "alert");
    var text = document.createElement("p");
    text.textContent = message;
    var retry = document.createElement("button");
    retry.type = "button";
    retry.className = "button";
    retry.setAttribute("data-key", "r");
    retry.innerHTML = '<kbd class="key-hint">r</kbd> Try again';
    retry.addEventListener("click", loadSuggestions);
    box.appendChild(text);
    box.appendChild(retry);
    body.appendChild(box);
  }

  function loadSuggestions() {
    if (loading) return;
    loading = true;
    body.innerHTML = '<div class="wb-loading" role="status"><span class="spinner" aria-hidden="true"></span> Writing suggestions…</div>';
    fetch(form.getAttribute("data-suggest-url"), {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      return response.json();
    }).then(function (answer) {
      loading = false;
      if (answer.status === "ready") {
        body.innerHTML = answer.html;
        shownAt = performance.now();
        form.classList.add("has-suggestions");
      } else {
        showFailure(answer.message);
      }
    }).catch(function () {
      loading = false;
      showFailure("Suggestions are not available right now (the server did not answer). " +
        "Write your own reply below, or try again.");
    });
  }

  function send() {
    var suggestionsShown = !!body.querySelector(".wb-cards");
    var picked = form.querySelector('input[name="slot"]:checked');
    if (suggestionsShown && !picked) {
      showError("Pick a suggestion (1–4) or press n for none usable.");
      return;
    }
    if (!reply.value.trim() && !(picked && picked.value !== "none")) {
      showError("Write a reply before sending.");
      reply.focus();
      return;
    }
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  body.addEventListener("click", function (event) {
    var target = event.target.closest(".wb-card");
    if (target && !event.target.closest("a")) select(target.getAttribute("data-key"));
    if (event.target.closest('button[data-key="r"]') && event.target.closest("button").type === "submit") {
      event.preventDefault();
      loadSuggestions();
    }
  });

  form.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    if (submitter && submitter.getAttribute("formaction")) return;  // "try again" without JS
    if (submitted) {
      event.preventDefault();
      return;
    }
    submitted = true;
    form.classList.add("is-submitting");
  });

  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      submitted = false;
      form.classList.remove("is-submitting");
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.isComposing) return;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      send();
      return;
    }
    if (isTyping(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat || submitted) return;
    var key = event.key;
    if (key === "N" || key === "0") key = "n";
    if (/^[1-4n]$/.test(key) && select(key)) {
      event.preventDefault();
    } else if ((key === "r" || key === "R") && body.querySelector('[data-key="r"]')) {
      event.preventDefault();
      loadSuggestions();
    }
  });

  if (body.querySelector(".wb-cards")) {
    shownAt = performance.now();
    highlight();
    form.classList.add("has-suggestions");
  } else if (body.querySelector(".wb-loading")) {
    loadSuggestions();
  }
})();
