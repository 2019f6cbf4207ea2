// Finishes a voice call's step by itself: for the form that carries
// data-call-status, it asks that URL every two seconds whether the call
// was answered with #, and submits the form when it was, as Continue
// would. The server checks the answer as for any Continue; this only
// saves the click. Without script, Continue does the same. No inline
// script: the page's CSP allows script only from 'self'.
(function () {
  "use strict";
  var form = document.querySelector("form[data-call-status]");
  if (!form || !window.fetch) return;
  var url = form.getAttribute("data-call-status");
  var hint = document.getElementById("call_hint");
  var status = document.getElementById("call_status");
  var every = 2000;
  var until = Date.now() + 10 * 60 * 1000; // a call can be answered for ten minutes
  if (hint && hint.dataset.polling) hint.textContent = hint.dataset.polling;

  function say(text) {
    var box = document.createElement("div"), p = document.createElement("p");
    box.className = "notice";
    p.textContent = text;
    box.appendChild(p);
    status.replaceChildren(box);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { status: "" }; })
      .then(function (s) {
        if (s.status === "answered") {
          say("Answered. Continuing…");
          form.submit();
        } else if (s.status === "waiting" && Date.now() < until) {
          setTimeout(poll, every);
        } else if (s.status === "ended") {
          say(form.getAttribute("data-call-ended"));
        }
        // Anything else (not this browser's call any more): stop, and
        // leave Continue to say what happened.
      })
      .catch(function () {
        // The network dropped: keep asking, less often.
        if (Date.now() < until) setTimeout(poll, 2 * every);
      });
  }
  setTimeout(poll, every);
})();
