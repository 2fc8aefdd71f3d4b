/* Live progress of a training run: polls [data-run-live] every 2 s while queued or running,
   fills [data-live=...] elements (text only) and the progress bar; reloads when it ends. */
(function () {
  "use strict";
  var root = document.querySelector("[data-run-live]");
  if (!root) { return; }
  var FINISHED = ["succeeded", "failed", "cancelled"];
  function fmt(name, value) {
    if (value === null || value === undefined) { return "—"; }
    if (name === "eta_s" || name === "elapsed_s") {
      var s = Number(value);
      return s < 60 ? s.toFixed(0) + " s" : Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    }
    if (name === "loss" || name === "reward_margin") { return Number(value).toFixed(4); }
    if (name === "reward_accuracy") { return (100 * Number(value)).toFixed(0) + "%"; }
    return String(value);
  }
  function update(live) {
    root.querySelectorAll("[data-live]").forEach(function (el) {
      var name = el.getAttribute("data-live");
      el.textContent = fmt(name, live[name]);
    });
    var bar = root.querySelector("[data-live-bar]");
    if (bar && live.total_steps) {
      bar.style.width = (100 * live.step / live.total_steps) + "%";
    }
    var state = root.querySelector("[data-live-state]");
    if (state) { state.className = "tr-state tr-state-" + live.status; state.textContent = live.status; }
  }
  function poll() {
    fetch(root.getAttribute("data-run-live"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (live) {
        if (!live) { return; }
        update(live);
        if (FINISHED.indexOf(live.status) !== -1) {
          if (FINISHED.indexOf(root.getAttribute("data-initial-status")) === -1) { window.location.reload(); }
          return;
        }
        window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  if (FINISHED.indexOf(root.getAttribute("data-initial-status")) === -1) { window.setTimeout(poll, 1000); }
})();
