// Polls /api/v1/jobs/{id} every 2 s for each [data-job-poll] element while its job is queued or
// running (jobs and campaign pages). A static file, not an inline script: the pages' CSP allows
// scripts only from our own origin.
(function () {
  "use strict";
  var FINISHED = ["succeeded", "failed", "cancelled"];
  function fmtSeconds(s) {
    if (s === null || s === undefined) { return "—"; }
    if (s < 60) { return s.toFixed(1) + " s"; }
    var m = Math.floor(s / 60);
    return m < 60 ? m + " min " + Math.round(s % 60) + " s" : Math.floor(m / 60) + " h " + (m % 60) + " min";
  }
  function update(root, job) {
    root.querySelectorAll("[data-job-field]").forEach(function (el) {
      var name = el.getAttribute("data-job-field");
      var value = name === "duration_seconds" ? fmtSeconds(job[name]) : job[name];
      el.textContent = value === null || value === undefined ? "" : String(value);  // text only: never HTML
    });
    root.querySelectorAll("[data-job-state]").forEach(function (el) {
      el.className = "state state-" + job.state;
      el.textContent = job.state;
    });
    root.querySelectorAll("[data-job-bar]").forEach(function (bar) {
      var pct = job.percent === null ? (job.state === "succeeded" ? 100 : 0) : job.percent;
      bar.className = "job-bar state-" + job.state;
      bar.setAttribute("aria-valuenow", job.progress_done);
      bar.setAttribute("aria-valuemax", job.progress_total);
      bar.firstElementChild.style.width = pct + "%";
    });
  }
  function poll(root) {
    var url = root.getAttribute("data-job-poll");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        if (!job) { return; }
        update(root, job);
        if (FINISHED.indexOf(job.state) !== -1) {
          if (root.hasAttribute("data-reload-when-done")) { window.location.reload(); }
          return;
        }
        window.setTimeout(function () { poll(root); }, 2000);
      })
      .catch(function () { window.setTimeout(function () { poll(root); }, 5000); });
  }
  document.querySelectorAll("[data-job-poll]").forEach(function (root) {
    if (FINISHED.indexOf(root.getAttribute("data-job-initial-state")) === -1) {
      window.setTimeout(function () { poll(root); }, 2000);
    }
  });
})();
