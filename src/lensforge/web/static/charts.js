// Metric charts (uPlot): one panel per kind of metric (losses, mAP, precision/recall,
// learning rate, the rest), one line per metric and run, with EMA smoothing and a log scale.
"use strict";
(function () {
  // Learning rates (`lr`, `lr/pg0`, `train/learning_rate`) have their own panel: a schedule
  // spanning decades, unreadable beside losses or accuracies.
  const LEARNING_RATE = /(^|\/)(lr|learning_rate)(\d*)(\/|$)/i;
  const GROUPS = [
    { id: "loss", title: "Losses", test: (k) => /loss/i.test(k) && !LEARNING_RATE.test(k) },
    { id: "map", title: "mAP", test: (k) => /map/i.test(k) },
    { id: "pr", title: "Precision / recall", test: (k) => /precision|recall/i.test(k) },
    { id: "lr", title: "Learning rate", test: (k) => LEARNING_RATE.test(k) },
    { id: "other", title: "Accuracy and other metrics", test: () => true },
  ];
  const PRIORITY = ["lr", "loss", "map", "pr", "other"];
  const groupOf = (key) => PRIORITY.map((id) => GROUPS.find((g) => g.id === id)).find((g) => g.test(key));

  // Y tick labels stay short: 3 significant digits, scientific notation for tiny or huge
  // values (a learning rate of 0.0001 reads 1e-4, not 0.00010000).
  function tick(value) {
    if (value == null || !isFinite(value)) return "";
    if (value === 0) return "0";
    const size = Math.abs(value);
    if (size < 1e-3 || size >= 1e5) {
      const [mantissa, exponent] = value.toExponential(1).split("e");
      return `${Number(mantissa)}e${Number(exponent)}`;
    }
    return String(Number(value.toPrecision(3)));
  }

  // Legend values: 4 significant digits, scientific for tiny ones (an lr of 2e-6 is not "0").
  function legendValue(_plot, value) {
    if (value == null) return "—";
    if (value !== 0 && Math.abs(value) < 1e-3) return value.toExponential(2);
    return String(Number(value.toPrecision(4)));
  }
  const DASHES = [[], [6, 4], [2, 3], [10, 3, 2, 3]];
  const color = (i) => `hsl(${(i * 67 + 230) % 360}, 70%, 50%)`;

  // A flat series (a loss stuck at 0) gets a small range around it, not uPlot's 0..100.
  function linearRange(_plot, min, max) {
    if (min == null || max == null) return [0, 1];
    if (min === max) return min === 0 ? [0, 1] : [min - Math.abs(min) * 0.1, max + Math.abs(max) * 0.1];
    return uPlot.rangeNum(min, max, 0.1, true);
  }

  // The legend shows the latest values until the pointer is over the chart.
  function latest(plot, count) {
    if (count > 0 && plot.cursor.idx == null) plot.setLegend({ idx: count - 1 });
  }

  function smooth(values, weight) {
    if (!weight) return values;
    let last = null;
    return values.map((v) => {
      if (v == null) return null;
      last = last == null ? v : last * weight + v * (1 - weight);
      return last;
    });
  }

  class MetricBoard {
    constructor(container, empty) {
      this.container = container;
      this.empty = empty;
      this.runs = new Map(); // run id → {name, points: Map(step → values)}
      this.smoothing = 0;
      this.log = false;
      this.panels = new Map(); // group id → {plot, signature, element}
      new ResizeObserver(() => this.resize()).observe(container);
    }

    setRun(id, name, points) {
      const run = { name, points: new Map(), byEpoch: true };
      for (const p of points) {
        run.points.set(p.step, p.values);
        if (p.epoch !== p.step) run.byEpoch = false;
      }
      this.runs.set(id, run);
    }

    addPoint(id, step, values, epoch) {
      if (!this.runs.has(id)) this.runs.set(id, { name: id, points: new Map(), byEpoch: true });
      const run = this.runs.get(id);
      run.points.set(step, values);
      if (epoch !== step) run.byEpoch = false;
      this.render();
    }

    // "epoch" when every point of every run is an epoch's (the trainer reported no finer step).
    xLabel() {
      return [...this.runs.values()].every((run) => run.byEpoch) ? "epoch" : "step";
    }

    pointCount() {
      let n = 0;
      for (const run of this.runs.values()) n += run.points.size;
      return n;
    }

    render() {
      const byGroup = new Map();
      let runIndex = -1;
      for (const [id, run] of this.runs) {
        runIndex++;
        const keys = new Set();
        for (const values of run.points.values()) Object.keys(values).forEach((k) => keys.add(k));
        for (const key of [...keys].sort()) {
          const group = groupOf(key);
          if (!byGroup.has(group.id)) byGroup.set(group.id, []);
          // One run: a colour per metric. Several: a colour per run (as in the tables), a dash
          // pattern per metric.
          const multi = this.runs.size > 1;
          const lineIndex = byGroup.get(group.id).filter((l) => l.id === id).length;
          byGroup.get(group.id).push({ id, run, key, color: color(multi ? runIndex : lineIndex), dash: multi ? DASHES[lineIndex % DASHES.length] : [] });
        }
      }
      this.container.dataset.points = String(this.pointCount());
      if (this.empty) this.empty.hidden = byGroup.size > 0;
      for (const [groupId, panel] of this.panels) {
        if (!byGroup.has(groupId)) { panel.plot.destroy(); panel.element.remove(); this.panels.delete(groupId); }
      }
      for (const group of GROUPS) {
        const lines = byGroup.get(group.id);
        if (!lines) continue;
        const steps = [...new Set(lines.flatMap((l) => [...l.run.points.keys()]))].sort((a, b) => a - b);
        const data = [steps];
        for (const line of lines) {
          let values = steps.map((s) => { const v = line.run.points.get(s)?.[line.key]; return v == null ? null : v; });
          values = smooth(values, this.smoothing);
          if (this.log) values = values.map((v) => (v != null && v > 0 ? v : null));
          data.push(values);
        }
        const multi = this.runs.size > 1;
        const xLabel = this.xLabel();
        const signature = lines.map((l) => `${l.id}/${l.key}`).join("|") + `|log=${this.log}|x=${xLabel}`;
        let panel = this.panels.get(group.id);
        if (panel && panel.signature === signature) {
          panel.plot.setData(data);
          latest(panel.plot, steps.length);
          continue;
        }
        if (panel) { panel.plot.destroy(); panel.element.remove(); }
        const element = document.createElement("div");
        element.className = "chart";
        element.dataset.testid = `chart-${group.id}`;
        element.setAttribute("role", "figure");
        element.setAttribute("aria-label", `${group.title}: ${lines.map((l) => l.key).join(", ")} by ${xLabel}`);
        element.dataset.xLabel = xLabel;
        element.innerHTML = `<h3>${group.title}</h3><div class="plot"></div>`;
        const order = GROUPS.map((g) => g.id);
        const after = [...this.container.querySelectorAll(".chart")].find((c) => order.indexOf(c.dataset.testid.slice(6)) > order.indexOf(group.id));
        this.container.insertBefore(element, after || null);
        const plot = new uPlot({
          width: this.width(),
          height: 240,
          scales: { x: { time: false }, y: this.log ? { distr: 3 } : { range: linearRange } },
          axes: [
            { label: xLabel, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] },
            { size: 56, values: (_u, splits) => { const shown = splits.map(tick); element.dataset.yTicks = shown.join("|"); return shown; } },
          ],
          series: [{ label: xLabel }, ...lines.map((l) => ({ label: multi ? `${l.run.name} · ${l.key}` : l.key, value: legendValue, stroke: l.color, dash: l.dash, width: 2, spanGaps: true, points: { size: 5 } }))],
          legend: { live: true },
        }, data, element.querySelector(".plot"));
        this.panels.set(group.id, { plot, signature, element });
        latest(plot, steps.length);
      }
    }

    width() {
      const columns = Math.max(1, Math.floor(this.container.clientWidth / 436));
      return Math.max(280, Math.floor(this.container.clientWidth / columns) - 40);
    }

    resize() {
      for (const panel of this.panels.values()) {
        panel.plot.setSize({ width: this.width(), height: 240 });
        latest(panel.plot, panel.plot.data[0].length); // a resize clears the legend's values
      }
    }

    rebuild() {
      for (const panel of this.panels.values()) panel.signature = "";
      this.render();
    }
  }

  // Wire a board to the page's smoothing slider and log-scale checkbox.
  function controls(board) {
    const slider = document.getElementById("smoothing");
    const shown = document.getElementById("smoothing-value");
    const log = document.getElementById("log-scale");
    slider?.addEventListener("input", () => { board.smoothing = Number(slider.value); shown.textContent = slider.value; board.render(); });
    log?.addEventListener("change", () => { board.log = log.checked; board.rebuild(); });
  }

  async function loadMetrics(jobId) {
    const points = [];
    let since = null;
    for (;;) {
      const query = since == null ? "limit=5000" : `limit=5000&since_step=${since}`;
      const page = await lf.api("GET", `/api/v1/training/jobs/${jobId}/metrics?${query}`);
      points.push(...page.points);
      if (!page.has_more || !page.points.length) return points;
      since = page.points[page.points.length - 1].step;
    }
  }

  lf.charts = { MetricBoard, controls, loadMetrics, tick };
})();
