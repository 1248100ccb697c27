// Lensforge UI: what every page shares. Forms marked data-api-form and buttons marked
// data-api-action call the JSON API with the session cookie and the CSRF header; the server
// applies the same role policy as for any API client.
"use strict";
(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  class ApiError extends Error {
    constructor(status, body) {
      const error = (body && body.error) || {};
      super(error.message || `request failed (${status})`);
      this.status = status;
      this.code = error.code || "http_error";
      this.details = error.details;
    }
  }

  async function api(method, path, body, options = {}) {
    const headers = { Accept: "application/json", "X-CSRF-Token": csrf(), ...(options.headers || {}) };
    let payload = body;
    if (body !== undefined && !(body instanceof Blob) && !(body instanceof ArrayBuffer) && !(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
    if (response.status === 401) {
      window.location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      throw new ApiError(401, null);
    }
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  // form → JSON: names are dotted paths ("config.basic.epochs"); data-type converts.
  function formBody(form) {
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.type === "submit") continue;
      const type = el.dataset.type;
      let value;
      if (type === "bool") value = el.checked;
      else if (el.type === "checkbox") { if (!el.checked) continue; value = el.value; }
      else {
        const raw = el.value.trim();
        if (raw === "") continue; // empty optional field: the server's default applies
        if (type === "int") value = parseInt(raw, 10);
        else if (type === "number") value = Number(raw);
        else if (type === "json") value = JSON.parse(raw);
        else if (type === "list") value = raw.split(",").map((s) => s.trim()).filter(Boolean);
        else value = raw;
      }
      const parts = el.name.split(".");
      let target = body;
      parts.slice(0, -1).forEach((p) => { target = target[p] = target[p] || {}; });
      target[parts[parts.length - 1]] = value;
    }
    return body;
  }

  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach((e) => { e.hidden = true; e.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    const top = form.querySelector(".form-error");
    if (top) { top.hidden = true; top.textContent = ""; }
  }

  // Put each server-side field error beside its input; the rest at the top of the form.
  function showErrors(form, error) {
    const fields = (error.details && error.details.fields) || [];
    const unplaced = [];
    for (const entry of fields) {
      const name = String(entry.field || "").replace(/^body\./, "");
      const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
      const holder = input && input.closest(".field");
      const slot = holder && holder.querySelector(".field-error");
      if (input) input.setAttribute("aria-invalid", "true");
      if (slot) { slot.textContent = entry.message; slot.hidden = false; }
      else unplaced.push(`${name}: ${entry.message}`);
    }
    const top = form.querySelector(".form-error");
    const text = fields.length && !unplaced.length ? "Please correct the highlighted fields." : error.message;
    if (top) { top.textContent = text; top.hidden = false; }
    else alert(text);
    const first = form.querySelector('[aria-invalid="true"]');
    if (first) first.focus();
  }

  function fill(template, data) {
    return template.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(data && data[key] != null ? data[key] : ""));
  }

  function after(element, data) {
    const then = element.dataset.then;
    if (then === "reload") location.reload();
    else if (then === "event") document.body.dispatchEvent(new Event("job-changed"));
    else if (then) location.href = fill(then, data);
    const refresh = element.dataset.refresh;
    if (refresh) htmx.ajax("GET", location.pathname + location.search, { target: refresh, select: refresh, swap: "outerHTML" });
    const result = element.dataset.result && document.querySelector(element.dataset.result);
    if (result) {
      result.querySelectorAll("[data-result-field]").forEach((slot) => { slot.textContent = data[slot.dataset.resultField]; });
      result.hidden = false;
      if (element.tagName === "FORM") element.reset();
    }
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.matches("[data-api-form]")) return;
    event.preventDefault();
    clearErrors(form);
    const buttons = form.querySelectorAll("button[type=submit], button:not([type])");
    buttons.forEach((b) => (b.disabled = true));
    try {
      const data = await api(form.dataset.method || "POST", form.dataset.url, formBody(form));
      after(form, data);
    } catch (error) {
      if (error instanceof ApiError) showErrors(form, error); else throw error;
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  });

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-api-action]");
    if (button) {
      event.preventDefault();
      if (button.dataset.confirm && !confirm(button.dataset.confirm)) return;
      button.disabled = true;
      const slot = document.querySelector(".action-error");
      try {
        const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
        const data = await api(button.dataset.method || "POST", button.dataset.url, body);
        if (slot) slot.hidden = true;
        after(button, data);
      } catch (error) {
        if (slot) { slot.textContent = error.message; slot.hidden = false; } else alert(error.message);
      } finally {
        button.disabled = false;
      }
      return;
    }
    if (event.target.closest("[data-reload]")) location.reload();
  });

  document.addEventListener("change", (event) => {
    const el = event.target;
    if (el.matches("[data-navigate]")) location.href = el.value;
    if (el.matches("[data-autosubmit]")) el.form.requestSubmit();
  });

  // The trainer's config is checked by the server as the user edits it, not only on submit.
  document.addEventListener("change", async (event) => {
    const input = event.target;
    const form = input.form;
    if (!form || !form.dataset.validateUrl || !String(input.name || "").startsWith("config.")) return;
    let config;
    try { config = formBody(form).config || {}; } catch (error) { return; }
    let answer;
    try { answer = await api("POST", form.dataset.validateUrl, config); } catch (error) { return; }
    form.querySelectorAll('[data-field-for^="config."]').forEach((holder) => {
      const slot = holder.querySelector(".field-error");
      if (slot) { slot.hidden = true; slot.textContent = ""; }
      holder.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    });
    for (const problem of answer.errors) {
      const holder = form.querySelector(`[data-field-for="config.${CSS.escape(problem.field)}"]`);
      if (!holder) continue;
      holder.querySelector("input, select")?.setAttribute("aria-invalid", "true");
      const slot = holder.querySelector(".field-error");
      if (slot) { slot.textContent = problem.message; slot.hidden = false; }
    }
  });

  // Class colours shared by the image browser and the legends (same hue walk as the server's).
  const hue = (classId) => (classId * 47) % 360;
  const classColor = (classId, alpha = 1) => `hsla(${hue(classId)}, 75%, 48%, ${alpha})`;

  window.lf = { api, ApiError, csrf, formBody, classColor, hue };
})();
