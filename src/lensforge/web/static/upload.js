// Resumable upload in parts (the protocol of /api/v1/uploads), with a progress bar, then the
// import and its report. An interrupted upload of the same file resumes: the session id is
// remembered in localStorage and only the parts the server is missing are sent again.
"use strict";
(function () {
  const root = document.getElementById("uploader");
  if (!root) return;
  const form = document.getElementById("upload-form");
  const input = document.getElementById("upload-file");
  const drop = document.getElementById("dropzone");
  const status = document.getElementById("upload-status");
  const bar = document.querySelector("#upload-progress .progress-bar");
  const progress = document.getElementById("upload-progress");
  const phase = document.getElementById("upload-phase");
  const numbers = document.getElementById("upload-numbers");
  const errorBox = document.getElementById("upload-error");
  const result = document.getElementById("import-result");
  const projectId = root.dataset.projectId;
  const datasetId = root.dataset.datasetId;
  const MAX_ATTEMPTS = 5;
  const PART_SIZE = 4 * 1048576; // small parts: a fine-grained progress bar and cheap resumes

  const mib = (n) => (n / 1048576).toFixed(1) + " MiB";
  function show(label, done, total) {
    const pct = total ? Math.round((done * 100) / total) : 0;
    status.hidden = false;
    phase.textContent = label;
    numbers.textContent = !total ? "" : label === "Uploading" ? `${pct}% · ${mib(done)} of ${mib(total)}` : `${done} of ${total}`;
    bar.style.width = pct + "%";
    progress.setAttribute("aria-valuenow", String(pct));
  }

  async function sha256(buffer) {
    if (!(window.crypto && crypto.subtle)) return null; // plain-HTTP deployments: no checksum
    const digest = await crypto.subtle.digest("SHA-256", buffer);
    return Array.from(new Uint8Array(digest)).map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function retrying(call) {
    for (let attempt = 1; ; attempt++) {
      try { return await call(); } catch (error) {
        const retriable = !(error instanceof lf.ApiError) || error.status >= 500 || error.code === "part_checksum_mismatch";
        if (!retriable || attempt >= MAX_ATTEMPTS) throw error;
        await new Promise((r) => setTimeout(r, 500 * 2 ** (attempt - 1)));
      }
    }
  }

  async function session(file) {
    const key = `lensforge-upload:${projectId}:${file.name}:${file.size}:${file.lastModified}`;
    const known = localStorage.getItem(key);
    if (known) {
      try {
        const found = await lf.api("GET", `/api/v1/uploads/${known}`);
        if (found.status === "open" && found.total_size === file.size) return { key, upload: found };
      } catch (error) { /* gone: start afresh */ }
    }
    const upload = await lf.api("POST", "/api/v1/uploads", {
      project_id: projectId, filename: file.name, total_size: file.size,
      content_type: file.type || "application/zip", part_size: PART_SIZE,
    });
    localStorage.setItem(key, upload.id);
    return { key, upload };
  }

  async function send(file) {
    const { key, upload } = await session(file);
    const missing = new Set(upload.missing_parts);
    let done = file.size - [...missing].reduce((sum, n) => sum + Math.min(upload.part_size, file.size - (n - 1) * upload.part_size), 0);
    show("Uploading", done, file.size);
    for (let number = 1; number <= upload.part_count; number++) {
      if (!missing.has(number)) continue;
      const start = (number - 1) * upload.part_size;
      const buffer = await file.slice(start, Math.min(start + upload.part_size, file.size)).arrayBuffer();
      const checksum = await sha256(buffer);
      const headers = { "Content-Type": "application/octet-stream" };
      if (checksum) headers["Content-SHA256"] = checksum;
      await retrying(() => lf.api("PUT", `/api/v1/uploads/${upload.id}/parts/${number}`, buffer, { headers }));
      done += buffer.byteLength;
      show("Uploading", done, file.size);
    }
    phase.textContent = "Assembling";
    const completed = await retrying(() => lf.api("POST", `/api/v1/uploads/${upload.id}/complete`));
    localStorage.removeItem(key);
    return completed;
  }

  async function importUpload(upload) {
    const body = {
      source: { kind: "upload", upload_id: upload.id },
      mode: form.mode.value,
      message: form.message.value,
      skip_invalid_images: form.skip_invalid_images.checked,
    };
    if (form.format.value) body.format = form.format.value;
    let record = await lf.api("POST", `/api/v1/datasets/${datasetId}/imports`, body);
    // Imports report progress only through their record: read it until it is finished.
    while (record.status === "pending" || record.status === "running") {
      show(`Importing (${record.phase || "starting"})`, record.progress_done, record.progress_total || 0);
      await new Promise((r) => setTimeout(r, 500));
      record = await lf.api("GET", `/api/v1/datasets/imports/${record.id}`);
    }
    show(record.status === "succeeded" ? "Imported" : "Import failed", 1, 1);
    await htmx.ajax("GET", `/datasets/imports/${record.id}/fragment`, { target: "#import-result", swap: "innerHTML" });
    if (record.status === "succeeded") {
      const link = document.createElement("p");
      link.innerHTML = `<a class="btn btn-primary" href="/datasets/${datasetId}?tab=images">Browse the images</a> <a class="btn" href="/datasets/${datasetId}">Dataset overview</a>`;
      result.appendChild(link);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) return;
    errorBox.hidden = true;
    result.innerHTML = "";
    const button = document.getElementById("upload-start");
    button.disabled = true;
    try {
      const upload = await send(file);
      await importUpload(upload);
    } catch (error) {
      errorBox.textContent = `${error.message}. Press "Upload and import" again to resume.`;
      errorBox.hidden = false;
    } finally {
      button.disabled = false;
    }
  });

  ["dragenter", "dragover"].forEach((type) => drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((type) => drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => { if (e.dataTransfer.files.length) input.files = e.dataTransfer.files; });
})();
