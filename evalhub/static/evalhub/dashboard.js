/* PM dashboard: the support rate over time, drawn with the vendored Chart.js (window.Chart).
   Data comes from the page's json_script block, never from strings inlined into this script. */
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  var canvas = document.getElementById("rate-chart");
  if (!source || !canvas || typeof window.Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var days = data.days || [];
  if (!days.length) return;

  var BAND_COLORS = {
    damaged: "rgba(220, 38, 38, 0.12)",
    no_progress: "rgba(100, 116, 139, 0.12)",
    not_ideal: "rgba(217, 119, 6, 0.13)",
    successful: "rgba(22, 163, 74, 0.13)",
    significant_improvement: "rgba(21, 128, 61, 0.24)"
  };

  // Paint the verdict bands behind the lines (0-100% on the y axis).
  var bandBackground = {
    id: "bandBackground",
    beforeDatasetsDraw: function (chart) {
      var area = chart.chartArea, y = chart.scales.y, ctx = chart.ctx;
      ctx.save();
      (data.bands || []).forEach(function (band) {
        var top = y.getPixelForValue(band.left + band.width);
        var bottom = y.getPixelForValue(band.left);
        ctx.fillStyle = BAND_COLORS[band.name] || "transparent";
        ctx.fillRect(area.left, top, area.right - area.left, bottom - top);
      });
      ctx.restore();
    }
  };

  function pct(value) { return value === null || value === undefined ? null : value * 100; }
  function series(key) { return days.map(function (d) { return pct(d[key]); }); }
  var single = days.length === 1;

  new window.Chart(canvas, {
    type: "line",
    data: {
      labels: days.map(function (d) { return d.day; }),
      datasets: [
        { label: "Anytime-valid interval (upper)", data: series("anytime_ci_high"), borderColor: "rgba(36, 87, 214, 0.35)",
          backgroundColor: "rgba(36, 87, 214, 0.16)", pointRadius: 0, borderWidth: 1, fill: "+1" },
        { label: "Anytime-valid interval (lower)", data: series("anytime_ci_low"), borderColor: "rgba(36, 87, 214, 0.35)",
          pointRadius: 0, borderWidth: 1, fill: false },
        { label: "95% interval, fixed sample (upper)", data: series("cum_ci_high"), borderColor: "#5b6470",
          borderDash: [5, 4], pointRadius: 0, borderWidth: 1, fill: false },
        { label: "95% interval, fixed sample (lower)", data: series("cum_ci_low"), borderColor: "#5b6470",
          borderDash: [5, 4], pointRadius: 0, borderWidth: 1, fill: false },
        { label: "Cumulative support rate", data: series("cum_support_rate"), borderColor: "#1b1f24",
          backgroundColor: "#1b1f24", pointRadius: single ? 4 : 2, borderWidth: 2, fill: false, spanGaps: true }
      ]
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        y: { min: 0, max: 100, ticks: { callback: function (v) { return v + "%"; } },
             title: { display: true, text: "Support rate" } },
        x: { ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 14,
                      callback: function (value) { return this.getLabelForValue(value).slice(5); } } }
      },
      plugins: {
        legend: { labels: { boxWidth: 14,
                            filter: function (item) { return !/\(lower\)$/.test(item.text); },
                            generateLabels: function (chart) {
                              var items = window.Chart.defaults.plugins.legend.labels.generateLabels(chart);
                              items.forEach(function (item) { item.text = item.text.replace(" (upper)", ""); });
                              return items;
                            } } },
        tooltip: {
          callbacks: {
            label: function (ctx) {
              var v = ctx.parsed.y;
              return ctx.dataset.label + ": " + (v === null ? "n/a" : v.toFixed(1) + "%");
            },
            afterBody: function (items) {
              var d = days[items[0].dataIndex];
              return d.cum_n_votes + " votes so far (" + d.n_votes + " that day)";
            }
          }
        }
      }
    },
    plugins: [bandBackground]
  });
})();
