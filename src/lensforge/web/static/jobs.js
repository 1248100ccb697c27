// The job list, kept current by the project's WebSocket events.
"use strict";
(function () {
  const root = document.getElementById("job-list");
  if (!root) return;
  let refreshing = null;
  const refresh = () => {
    clearTimeout(refreshing);
    refreshing = setTimeout(() => htmx.ajax("GET", location.pathname + location.search, { target: "#job-list", select: "#job-list", swap: "outerHTML" }), 200);
  };
  lf.live.connect({
    subscriptions: [{ project_id: root.dataset.projectId }],
    onReconnect: refresh,
    onEvent: (event) => {
      const row = document.querySelector(`[data-job-row="${event.job_id}"]`);
      if (!row || event.type === "job_status") return refresh();
      if (event.type === "training_progress" && event.total_epochs) {
        row.querySelector(".progress-bar").style.width = `${(event.epoch * 100) / event.total_epochs}%`;
        row.querySelector('[data-field="epochs"]').textContent = `${event.epoch}/${event.total_epochs}`;
      }
    },
  });
})();
