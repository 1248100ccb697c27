// A job's page: live charts and log from the WebSocket (no polling); the header, checkpoints
// and attempts are re-fetched by HTMX when an event says they changed.
"use strict";
(function () {
  const root = document.getElementById("job-live");
  if (!root) return;
  const jobId = root.dataset.jobId;
  const board = new lf.charts.MetricBoard(document.getElementById("charts"), document.getElementById("charts-empty"));
  lf.charts.controls(board);
  window.lfBoard = board;

  const LEVELS = ["debug", "info", "warning", "error", "critical"];
  const logBox = document.getElementById("log");
  const level = document.getElementById("log-level");
  const search = document.getElementById("log-search");
  const follow = document.getElementById("log-follow");
  const logCount = document.getElementById("log-count");
  const MAX_LINES = 5000;
  let shown = 0;

  const passes = (line) =>
    (!level.value || LEVELS.indexOf(line.level) >= LEVELS.indexOf(level.value)) &&
    (!search.value || line.message.toLowerCase().includes(search.value.toLowerCase()));

  function appendLine(line) {
    if (!passes(line)) return;
    const row = document.createElement("div");
    row.className = `log-line src-${line.source || "trainer"}`;
    const at = new Date(line.logged_at || line.at || Date.now());
    row.innerHTML = "<span class='t'></span><span class='lv'></span><span class='m'></span>";
    row.children[0].textContent = at.toLocaleTimeString([], { hour12: false });
    row.children[1].textContent = line.level;
    row.children[1].className = `lv lv-${line.level}`;
    const text = line.message;
    const q = search.value;
    if (q) {
      const i = text.toLowerCase().indexOf(q.toLowerCase());
      row.children[2].append(text.slice(0, i));
      const mark = document.createElement("mark");
      mark.textContent = text.slice(i, i + q.length);
      row.children[2].append(mark, text.slice(i + q.length));
    } else row.children[2].textContent = text;
    logBox.appendChild(row);
    shown++;
    while (logBox.childElementCount > MAX_LINES) logBox.firstElementChild.remove();
    logCount.textContent = `${shown} line${shown === 1 ? "" : "s"}`;
    if (follow.checked) logBox.scrollTop = logBox.scrollHeight;
  }

  async function loadLog() {
    const params = new URLSearchParams({ limit: 1 });
    if (level.value) params.set("level", level.value);
    if (search.value) params.set("search", search.value);
    const head = await lf.api("GET", `/api/v1/training/jobs/${jobId}/logs?${params}`);
    params.set("limit", 1000);
    params.set("offset", Math.max(0, head.total - 1000));
    const page = await lf.api("GET", `/api/v1/training/jobs/${jobId}/logs?${params}`);
    logBox.replaceChildren();
    shown = 0;
    page.items.forEach(appendLine);
    if (!page.items.length) logCount.textContent = "no lines yet";
  }

  async function loadMetrics() {
    board.setRun(jobId, "this job", await lf.charts.loadMetrics(jobId));
    board.render();
  }

  let searchTimer;
  level.addEventListener("change", loadLog);
  search.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(loadLog, 250); });
  follow.addEventListener("change", () => { if (follow.checked) logBox.scrollTop = logBox.scrollHeight; });

  function progress(event) {
    const bar = document.getElementById("job-progress-bar");
    const text = document.getElementById("job-epochs");
    if (event.total_epochs && bar) bar.style.width = `${(event.epoch * 100) / event.total_epochs}%`;
    if (text) text.textContent = `epoch ${event.epoch ?? "?"} / ${event.total_epochs ?? "?"}`;
  }

  function onEvent(event) {
    if (event.job_id !== jobId) return;
    if (event.type === "training_progress") { board.addPoint(jobId, event.step, event.metrics || {}, event.epoch); progress(event); }
    else if (event.type === "log") appendLine(event);
    else if (event.type === "job_status" || event.type === "checkpoint" || event.type === "artifact") document.body.dispatchEvent(new Event("job-changed"));
  }

  Promise.all([loadMetrics(), loadLog()]).finally(() => {
    lf.live.connect({
      subscriptions: [{ job_id: jobId }],
      onEvent,
      onReconnect: () => { loadMetrics(); loadLog(); document.body.dispatchEvent(new Event("job-changed")); },
      indicator: document.getElementById("live-state"),
    });
  });
})();
