/* Refresh the overview's data every minute without reloading the page.
   Without JavaScript the page is complete, and a link reloads it. The text shown here
   comes from the page (data-* attributes), translated on the server. */
(function () {
  "use strict";
  var region = document.getElementById("live");
  var status = document.getElementById("live-status");
  if (!region || !status || !window.fetch) { return; }
  var url = region.getAttribute("data-src");
  var every = 1000 * (parseInt(region.getAttribute("data-every"), 10) || 60);
  var paused = false;
  var timer = null;

  var message = document.createElement("span");
  var button = document.createElement("button");
  button.type = "button";
  function say(key) { message.textContent = status.getAttribute("data-" + key); }
  function label() {
    button.textContent = status.getAttribute(paused ? "data-resume-label" : "data-pause-label");
    button.setAttribute("aria-pressed", paused ? "true" : "false");
  }
  status.textContent = "";
  status.appendChild(message);
  status.appendChild(button);
  say("resumed");
  label();

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, every);
  }
  function refresh() {
    // Never pull the page from under someone reading with a keyboard or screen reader focus inside it.
    if (paused || document.hidden || region.contains(document.activeElement)) { schedule(); return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) {
        region.innerHTML = html;
        region.setAttribute("data-refreshed", new Date().toISOString());
        say("resumed");
      })
      .catch(function () { say("failed"); })
      .then(schedule);
  }
  button.addEventListener("click", function () {
    paused = !paused;
    label();
    say(paused ? "paused" : "resumed");
    if (!paused) { refresh(); }
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !paused) { refresh(); }
  });
  schedule();
})();
