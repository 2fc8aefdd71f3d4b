/* The memory estimate on the training form: refetched when the model, method, batch size,
   max length or LoRA rank change. */
(function () {
  "use strict";
  var table = document.querySelector("[data-memory]");
  var form = document.querySelector("[data-run-form]");
  if (!table || !form) { return; }
  function value(name, fallback) {
    var el = form.querySelector("[name=" + name + "]");
    return el && el.value ? el.value : fallback;
  }
  function render(data) {
    var body = table.querySelector("tbody");
    var note = document.querySelector("[data-memory-note]");
    body.textContent = "";
    if (data.error) { note.textContent = data.error; return; }
    note.textContent = "Base " + data.base + ": " + (data.params / 1e6).toFixed(2) + " M parameters" +
      (data.params_exact ? "" : " (from its config)") + "; batch " + data.batch_size + ", " +
      data.seq_len + " tokens, LoRA r " + data.lora_r + ".";
    data.estimates.forEach(function (row) {
      var tr = document.createElement("tr");
      [row.mode, row.trainable_params.toLocaleString(), row.weights_text,
       row.gradients_and_optimizer_text, row.activations_text,
       row.total_text].forEach(function (text, i) {
        var td = document.createElement(i === 0 ? "th" : "td");
        td.textContent = text;
        if (i > 0) { td.className = "num"; }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }
  function refresh() {
    var model = value("start_model", "");
    if (!model) { return; }
    var params = new URLSearchParams({
      model: model, method: value("method", "dpo"), batch_size: value("per_device_train_batch_size", "8"),
      seq_len: value("max_length", "1024"), lora_r: value("lora_r", "16")
    });
    fetch(table.getAttribute("data-memory") + "?" + params.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.json(); }).then(render).catch(function () {});
  }
  ["start_model", "method", "per_device_train_batch_size", "max_length", "lora_r"].forEach(function (name) {
    var el = form.querySelector("[name=" + name + "]");
    if (el) { el.addEventListener("change", refresh); }
  });
})();
