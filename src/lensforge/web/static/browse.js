// The image browser: thumbnails of a version's images with their boxes, polygons and
// keypoints drawn over them in each class's colour; click one for the full image.
"use strict";
(function () {
  const root = document.getElementById("image-browser");
  if (!root) return;
  const grid = document.getElementById("thumb-grid");
  const count = document.getElementById("browse-count");
  const splitSelect = document.getElementById("browse-split");
  const classSelect = document.getElementById("browse-class");
  const labels = document.getElementById("browse-labels");
  const prev = document.getElementById("browse-prev");
  const next = document.getElementById("browse-next");
  const dialog = document.getElementById("image-dialog");
  const classes = JSON.parse(root.dataset.classes || "[]");
  const base = `/api/v1/datasets/${root.dataset.datasetId}/versions/${root.dataset.version}`;
  const PAGE = 48;
  const SVG = "http://www.w3.org/2000/svg";
  let offset = 0;
  let items = [];

  function el(tag, attrs, parent) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  // Annotations are in the original image's pixels: the SVG's viewBox is the image size, so
  // the drawing scales with whatever size the thumbnail is shown at.
  function overlay(item, big) {
    const svg = el("svg", { viewBox: `0 0 ${item.width} ${item.height}`, preserveAspectRatio: "none", "aria-hidden": "true" });
    const stroke = Math.max(item.width, item.height) / (big ? 300 : 110);
    for (const a of item.annotations) {
      const color = lf.classColor(a.class_id);
      for (const poly of a.polygons || []) {
        const points = [];
        for (let i = 0; i + 1 < poly.length; i += 2) points.push(`${poly[i]},${poly[i + 1]}`);
        el("polygon", { points: points.join(" "), fill: lf.classColor(a.class_id, 0.25), stroke: color, "stroke-width": stroke }, svg);
      }
      if (a.bbox && !(a.polygons || []).length) {
        const [x, y, w, h] = a.bbox;
        el("rect", { x, y, width: w, height: h, fill: lf.classColor(a.class_id, 0.08), stroke: color, "stroke-width": stroke, "data-class": a.class_id }, svg);
      }
      for (const [x, y, v] of a.keypoints || []) {
        if (!v) continue;
        el("circle", { cx: x, cy: y, r: stroke * 1.6, fill: v === 2 ? color : "#fff", stroke: color, "stroke-width": stroke / 2 }, svg);
      }
      if (labels.checked && a.bbox) {
        const text = el("text", { x: a.bbox[0] + stroke, y: Math.max(a.bbox[1] - stroke, stroke * 6), fill: color, "font-size": stroke * 7, "font-family": "system-ui, sans-serif", "font-weight": 700, "paint-order": "stroke", stroke: "#fff", "stroke-width": stroke }, svg);
        text.textContent = classes[a.class_id] ?? a.class_id;
      }
    }
    return svg;
  }

  function figure(item, big) {
    const holder = document.createElement("div");
    holder.className = "thumb-figure";
    // Reserve the image's shape before it loads: no layout jumps, and the overlay fits at once.
    holder.style.aspectRatio = `${item.width} / ${item.height}`;
    const img = document.createElement("img");
    img.src = big ? item.image_url : `${item.thumbnail_url}?size=256`;
    img.alt = item.file_name;
    img.loading = "lazy";
    holder.append(img, overlay(item, big));
    return holder;
  }

  function summary(item) {
    if (item.labels && item.labels.length) return item.labels.map((c) => classes[c] ?? c).join(", ");
    return `${item.annotations.length} object${item.annotations.length === 1 ? "" : "s"}`;
  }

  function open(item) {
    const target = document.getElementById("dialog-figure");
    target.replaceChildren(figure(item, true));
    const meta = document.getElementById("dialog-meta");
    const counts = {};
    item.annotations.forEach((a) => { counts[a.class_id] = (counts[a.class_id] || 0) + 1; });
    meta.innerHTML = "";
    const title = document.createElement("h2");
    title.textContent = item.file_name;
    const facts = document.createElement("p");
    facts.className = "muted";
    facts.textContent = `${item.width}×${item.height} · ${item.split} · ${summary(item)}`;
    meta.append(title, facts);
    for (const [id, n] of Object.entries(counts)) {
      const chip = document.createElement("span");
      chip.className = "class-chip";
      chip.style.setProperty("--hue", lf.hue(Number(id)));
      chip.textContent = `${classes[id] ?? id} × ${n}`;
      meta.appendChild(chip);
    }
    dialog.showModal();
  }

  function draw() {
    grid.replaceChildren();
    if (!items.length) {
      grid.innerHTML = '<div class="empty"><p>No images match.</p></div>';
      return;
    }
    for (const item of items) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "thumb";
      button.setAttribute("aria-label", `${item.file_name}: ${summary(item)}`);
      button.dataset.testid = "thumb";
      const caption = document.createElement("div");
      caption.className = "thumb-caption";
      caption.innerHTML = "<span></span><span class='badge'></span>";
      caption.children[0].textContent = item.file_name;
      caption.children[1].textContent = item.split;
      // A frame of one shape for every thumbnail, the image fitted and centred in it.
      const frame = document.createElement("div");
      frame.className = "thumb-frame";
      const fitted = figure(item, false);
      if (item.width / item.height >= 4 / 3) fitted.style.width = "100%";
      else fitted.style.height = "100%";
      frame.appendChild(fitted);
      button.append(frame, caption);
      button.addEventListener("click", () => open(item));
      grid.appendChild(button);
    }
  }

  async function load() {
    const params = new URLSearchParams({ limit: PAGE, offset });
    if (splitSelect.value) params.set("split", splitSelect.value);
    if (classSelect.value) params.set("class_id", classSelect.value);
    count.textContent = "Loading…";
    try {
      const page = await lf.api("GET", `${base}/items?${params}`);
      items = page.items;
      const last = Math.min(offset + PAGE, page.total);
      count.textContent = page.total ? `${offset + 1}–${last} of ${page.total}` : "0 images";
      prev.disabled = offset === 0;
      next.disabled = last >= page.total;
      draw();
    } catch (error) {
      count.textContent = error.message;
    }
  }

  splitSelect.addEventListener("change", () => { offset = 0; load(); });
  classSelect.addEventListener("change", () => { offset = 0; load(); });
  labels.addEventListener("change", draw);
  prev.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
  next.addEventListener("click", () => { offset += PAGE; load(); });
  load();
})();
