// evalhub thumbs: send a thumb up or down for an answer your page showed its user.
// Set EVALHUB_URL and a feedback-only token (`python manage.py feedback_client my-product`
// prints one; it can only send feedback), and add your site to FEEDBACK_ALLOWED_ORIGINS.
var EVALHUB_URL = "https://evalhub.example.com";
var EVALHUB_TOKEN = "paste-the-feedback-token-here";

function evalhubThumb(value, answer) {
  // value: "up" or "down". answer: {trace_id, model_version, text, prompt} (or {output_id}),
  // plus optional campaign, channel, user (your anonymous user id) and comment.
  var key = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Math.random());
  var send = function () {
    return fetch(EVALHUB_URL + "/api/v1/feedback/thumbs", {
      method: "POST",
      keepalive: true,
      headers: {
        "Content-Type": "application/json",
        "Authorization": "Token " + EVALHUB_TOKEN,
        "Idempotency-Key": key  // a retry with the same key is never counted twice
      },
      body: JSON.stringify(Object.assign({ value: value }, answer))
    });
  };
  return send().catch(send).then(function (response) {
    return response.json().then(function (body) {
      if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
      return body;
    });
  });
}

// Example: evalhubThumb("up", {trace_id: "resp-8812", model_version: "support-v2",
//   text: shownAnswer, prompt: userQuestion, campaign: 7, channel: "web", user: anonId});
