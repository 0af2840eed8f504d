// Progressive enhancement: live updates. Pages work without it (reload to see changes).
// A page that wants them has <main data-live="/live">; each status change of the tenant's
// posts (the read API's stream, relayed by the console) refreshes the #live-region.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var region = document.getElementById("live-region");
  if (!main || !region || !main.dataset.live || !window.EventSource) { return; }
  var pending = null;
  function refresh() {
    pending = null;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html", "X-Live-Refresh": "1" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live-region");
        if (fresh && fresh.innerHTML !== region.innerHTML) {
          region.innerHTML = fresh.innerHTML;
          region.dataset.refreshed = String(Date.now());
        }
      })
      .catch(function () { /* the next change tries again */ });
  }
  function soon() {
    if (pending === null) { pending = window.setTimeout(refresh, 300); }
  }
  var source = new EventSource(main.dataset.live);
  source.addEventListener("post.status", soon);
  main.dataset.liveState = "connecting";
  // A change made between this page's rendering and the stream's opening (or while it was
  // reconnecting) sent no event here: read the page once more when the stream opens.
  source.onopen = function () { main.dataset.liveState = "open"; soon(); };
  source.onerror = function () { main.dataset.liveState = "retrying"; };
})();
