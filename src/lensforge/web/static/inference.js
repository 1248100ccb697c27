// Test inference: images dropped here go to POST /training/jobs/{id}/predict; the server
// renders the predictions, and its results fragment is swapped in. A run still going after
// the wait is followed over the WebSocket until it ends.
"use strict";
(function () {
  const form = document.getElementById("predict-form");
  const batchJob = document.getElementById("batch-job");
  if (batchJob) {
    batchJob.addEventListener("change", () => {
      document.getElementById("batch-version").value = batchJob.selectedOptions[0].dataset.version;
    });
  }
  if (!form) return;
  const jobSelect = document.getElementById("model-job");
  const source = document.getElementById("model-source");
  const files = document.getElementById("predict-files");
  const conf = document.getElementById("predict-conf");
  const status = document.getElementById("predict-status");
  const phase = document.getElementById("predict-phase");
  const errorBox = form.querySelector(".form-error");
  const TERMINAL = ["completed", "failed", "cancelled"];

  // Only the exports of the chosen job are offered.
  function filterSources() {
    for (const option of source.options) {
      const job = option.dataset.job;
      option.hidden = option.disabled = Boolean(job) && job !== jobSelect.value;
    }
    if (source.selectedOptions[0]?.disabled) source.value = "checkpoint:best";
  }
  jobSelect.addEventListener("change", filterSources);
  filterSources();
  conf.addEventListener("input", () => { document.getElementById("predict-conf-value").textContent = conf.value; });

  const drop = document.getElementById("predict-drop");
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => { if (e.dataTransfer.files.length) files.files = e.dataTransfer.files; });

  const showResults = async (runId) => {
    await htmx.ajax("GET", `/inference/${runId}/fragment`, { target: "#predict-result", swap: "innerHTML" });
    await htmx.ajax("GET", location.pathname + location.search, { target: "#inference-runs", select: "#inference-runs", swap: "outerHTML" });
  };

  function follow(run) {
    phase.textContent = "Still running: following it live";
    lf.live.connect({
      subscriptions: [{ job_id: run.job_id }],
      onEvent: (event) => {
        if (event.type === "job_status" && TERMINAL.includes(event.status)) {
          status.hidden = true;
          showResults(run.id);
        }
      },
      onReconnect: () => showResults(run.id),
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    if (!files.files.length) return;
    const body = new FormData();
    for (const file of files.files) body.append("files", file, file.name);
    const [kind, value] = source.value.split(":");
    body.append(kind === "export" ? "export_id" : "checkpoint", value);
    body.append("conf", conf.value);
    body.append("iou", form.iou.value);
    body.append("wait", "60");
    const button = document.getElementById("predict-start");
    button.disabled = true;
    status.hidden = false;
    phase.textContent = `Running ${files.files.length} image(s) through the model`;
    try {
      const answer = await lf.api("POST", `/api/v1/training/jobs/${jobSelect.value}/predict`, body);
      if (TERMINAL.includes(answer.run.status)) { status.hidden = true; await showResults(answer.run.id); }
      else follow(answer.run);
    } catch (error) {
      status.hidden = true;
      errorBox.textContent = error.message;
      errorBox.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
})();
