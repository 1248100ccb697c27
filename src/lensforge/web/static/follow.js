// A page about one run of model work (inference run, export) that is not finished: follow its
// job over the WebSocket and re-render the page's live part when its status changes.
"use strict";
(function () {
  const root = document.querySelector("[data-job-id][data-status]");
  if (!root) return;
  const refresh = () => htmx.ajax("GET", location.pathname + location.search, { target: `#${root.id}`, select: `#${root.id}`, swap: "outerHTML" });
  lf.live.connect({
    subscriptions: [{ job_id: root.dataset.jobId }],
    onEvent: (event) => { if (event.type === "job_status" || event.type === "export_status") refresh(); },
    onReconnect: refresh,
  });
})();
