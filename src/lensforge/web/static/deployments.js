// Deployments: the new-deployment form's model choice, copy buttons, live charts of the
// stats route (requests/s, p50/p95/p99 latency, error rate) refreshed every few seconds, and
// the try-it form (an image posted to the predict route, the drawn result and the JSON shown).
"use strict";
(function () {
  const REFRESH_MS = 5000;

  // The model select fills either export_id or job_id (the other stays out of the body).
  const source = document.querySelector("[data-deployment-source]");
  if (source) {
    const exportId = document.getElementById("deployment-export-id");
    const jobId = document.getElementById("deployment-job-id");
    const sync = () => {
      const [kind, id] = source.value.split(":");
      exportId.disabled = kind !== "export";
      jobId.disabled = kind !== "job";
      exportId.value = kind === "export" ? id : "";
      jobId.value = kind === "job" ? id : "";
    };
    source.addEventListener("change", sync);
    sync();
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const text = button.parentElement.querySelector("pre, code").textContent;
    try { await navigator.clipboard.writeText(text); button.textContent = "Copied"; }
    catch (error) { button.textContent = "Select and copy"; }
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });

  // A deployment being created (its model exported and verified on the way) is looked at
  // again every few seconds until it is ready or failed.
  const root = document.getElementById("deployment");
  if (root && root.dataset.status === "creating") setTimeout(() => location.reload(), 3000);

  // --- live charts -------------------------------------------------------------------------
  const board = document.getElementById("deployment-charts");
  const pick = (point, ...names) => { for (const n of names) if (point[n] != null) return point[n]; return null; };
  const CHARTS = [
    { id: "requests", series: [{ label: "requests/s", keys: ["requests_per_second", "rps"], color: "hsl(230, 70%, 50%)" }] },
    { id: "latency", series: [
      { label: "p50", keys: ["p50_ms", "p50"], color: "hsl(160, 70%, 38%)" },
      { label: "p95", keys: ["p95_ms", "p95"], color: "hsl(35, 85%, 48%)" },
      { label: "p99", keys: ["p99_ms", "p99"], color: "hsl(0, 75%, 50%)" },
    ] },
    { id: "errors", series: [{ label: "error rate", keys: ["error_rate"], color: "hsl(0, 75%, 50%)" }] },
  ];
  const plots = new Map();

  function width() { return Math.max(260, Math.floor(board.clientWidth / Math.max(1, Math.floor(board.clientWidth / 420))) - 40); }

  function draw(points) {
    const xs = points.map((p) => Date.parse(pick(p, "minute", "time", "period", "start")) / 1000);
    board.dataset.points = String(points.length);
    document.getElementById("stats-empty").hidden = points.some((p) => pick(p, "requests") > 0);
    for (const chart of CHARTS) {
      const data = [xs, ...chart.series.map((s) => points.map((p) => pick(p, ...s.keys)))];
      const existing = plots.get(chart.id);
      if (existing) { existing.setData(data); latest(existing, xs.length); continue; }
      const element = board.querySelector(`[data-testid="chart-${chart.id}"] .plot`);
      plots.set(chart.id, new uPlot({
        width: width(), height: 200,
        axes: [{}, { values: (_u, ticks) => ticks.map((t) => (lf.charts ? lf.charts.tick(t) : String(t))) }],
        series: [{}, ...chart.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: false }))],
      }, data, element));
      latest(plots.get(chart.id), xs.length);
    }
  }

  // The legend shows the latest minute's values until the pointer is over a chart.
  function latest(plot, count) {
    if (count > 0 && plot.cursor.idx == null) plot.setLegend({ idx: count - 1 });
  }

  async function refresh() {
    try {
      const answer = await lf.api("GET", board.dataset.statsUrl);
      const points = Array.isArray(answer) ? answer : (answer.points || answer.series || answer.items || []);
      draw(points);
      document.getElementById("stats-live").classList.add("on");
    } catch (error) {
      document.getElementById("stats-live").classList.remove("on");
    }
  }
  if (board && window.uPlot) {
    refresh();
    setInterval(refresh, REFRESH_MS);
    new ResizeObserver(() => { for (const plot of plots.values()) plot.setSize({ width: width(), height: 200 }); }).observe(board);
  }

  // --- try it ------------------------------------------------------------------------------
  const form = document.getElementById("try-form");
  if (form) {
    const errorBox = form.querySelector(".form-error");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      errorBox.hidden = true;
      const body = new FormData();
      const file = document.getElementById("try-image").files[0];
      if (!file) return;
      body.append("images", file, file.name);
      const conf = document.getElementById("try-conf").value.trim();
      if (conf) body.append("conf", conf);
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const answer = await lf.api("POST", `${form.dataset.url}?render=true`, body);
        const rendered = (answer.rendered || [])[0];
        const data = rendered && typeof rendered === "object" ? (rendered.base64 || rendered.data || rendered.image) : rendered;
        const image = document.getElementById("try-rendered");
        image.hidden = !data;
        if (data) image.src = String(data).startsWith("data:") ? data : `data:image/jpeg;base64,${data}`;
        const shown = { ...answer };
        delete shown.rendered;
        document.getElementById("try-json").textContent = JSON.stringify(shown, null, 2);
        document.getElementById("try-result").hidden = false;
      } catch (error) {
        errorBox.textContent = error.message;
        errorBox.hidden = false;
      } finally {
        button.disabled = false;
      }
    });
  }
})();
