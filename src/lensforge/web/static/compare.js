// Compare: every chosen job's curves overlaid, live while they run.
"use strict";
(function () {
  const root = document.getElementById("compare-charts");
  if (!root) return;
  const ids = JSON.parse(root.dataset.jobs);
  const names = JSON.parse(root.dataset.names);
  const board = new lf.charts.MetricBoard(document.getElementById("charts"), document.getElementById("charts-empty"));
  lf.charts.controls(board);
  window.lfBoard = board;
  const onlyDiff = document.getElementById("only-diff");
  onlyDiff?.addEventListener("change", () => document.querySelector(".config-table").classList.toggle("only-diff", onlyDiff.checked));

  async function load() {
    const all = await Promise.all(ids.map((id) => lf.charts.loadMetrics(id)));
    all.forEach((points, i) => board.setRun(ids[i], names[i], points));
    board.render();
    const empty = document.getElementById("charts-empty");
    if (!board.pointCount()) { empty.hidden = false; empty.textContent = "These jobs have reported no metrics yet."; }
  }
  load().finally(() => lf.live.connect({
    subscriptions: ids.map((job_id) => ({ job_id })),
    onReconnect: load,
    onEvent: (event) => { if (event.type === "training_progress") board.addPoint(event.job_id, event.step, event.metrics || {}, event.epoch); },
  }));
})();
