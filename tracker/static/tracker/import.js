/* While an import runs, show its progress without reloading the page, from the API's
   view of it; reload once it is done, for the preview. Without JavaScript the page
   refreshes itself (a <noscript> refresh). The words come from the page, translated
   on the server. */
(function () {
  "use strict";
  var box = document.getElementById("import-status");
  var bar = document.getElementById("import-progress");
  var text = document.getElementById("import-progress-text");
  if (!box || !bar || !text || !window.fetch) { return; }
  var url = box.getAttribute("data-src");
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (batch) {
        if (batch.status !== "queued" && batch.status !== "running") {
          window.location.reload();
          return;
        }
        if (batch.rows_total) { bar.max = batch.rows_total; }
        bar.value = batch.rows_done;
        bar.textContent = batch.rows_done + " / " + batch.rows_total;
        text.textContent = batch.status === "queued" ? box.getAttribute("data-queued")
          : box.getAttribute("data-running").replace("%(done)s", batch.rows_done).replace("%(total)s", batch.rows_total);
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
}());
