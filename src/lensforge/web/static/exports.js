// Exports: the form offers the formats of the chosen job's trainer (with their options), the
// list follows export_status events live, and downloads go through a presigned link.
"use strict";
(function () {
  const job = document.getElementById("export-job");
  const format = document.getElementById("export-format");
  function sync() {
    const trainer = job.selectedOptions[0]?.dataset.trainer;
    for (const option of format.options) option.hidden = option.dataset.trainer !== trainer;
    if (format.selectedOptions[0]?.hidden || format.selectedOptions[0]?.disabled) {
      const first = [...format.options].find((o) => !o.hidden && !o.disabled);
      if (first) format.value = first.value;
    }
    document.querySelectorAll(".export-options").forEach((set) => {
      const shown = set.dataset.trainer === trainer && set.dataset.format === format.value;
      set.hidden = !shown;
      set.querySelectorAll("input, select").forEach((input) => { input.disabled = !shown; });
    });
  }
  if (job && format) { job.addEventListener("change", sync); format.addEventListener("change", sync); sync(); }

  const list = document.getElementById("export-list");
  if (list && lf.live) {
    const refresh = () => htmx.ajax("GET", location.pathname, { target: "#export-list", select: "#export-list", swap: "outerHTML" });
    lf.live.connect({
      subscriptions: [{ project_id: list.dataset.projectId }],
      onEvent: (event) => { if (event.type === "export_status") refresh(); },
      onReconnect: refresh,
    });
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-download-export]");
    if (!button) return;
    try {
      const link = await lf.api("GET", `/api/v1/exports/${button.dataset.downloadExport}/download`);
      location.href = link.url;
    } catch (error) {
      const slot = document.querySelector(".action-error");
      slot.textContent = error.message;
      slot.hidden = false;
    }
  });
})();
