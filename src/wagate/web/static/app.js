// The dashboard's behaviour, kept small and dependency-free besides htmx:
// - every request carries the page's CSRF token (htmx's and ours);
// - forms and buttons marked data-api call the JSON API and show its error messages;
// - pages marked data-live follow the event stream and refresh their live parts
//   (elements listening for "wagate-refresh"), so a status or a reply shows at once.
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

  document.body.addEventListener("htmx:configRequest", (event) => {
    if (csrf) event.detail.headers["X-CSRF-Token"] = csrf;
  });

  function flash(text, kind) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = text;
    box.className = "flash flash-" + kind;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { box.className = "flash"; box.textContent = ""; }, 6000);
  }

  async function call(method, url, body) {
    const headers = { "X-CSRF-Token": csrf, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      const error = data && data.error;
      throw new Error(error ? error.message + " (" + error.code + ")" : response.statusText);
    }
    return data;
  }

  // Form fields to JSON: "a.b" nests, data-type="number|list|json" converts, empty
  // fields are left out (or sent as null with data-empty="null"), checkboxes are booleans.
  function formJson(form) {
    const out = {};
    for (const field of form.elements) {
      if (!field.name || field.disabled || field.name === "csrf_token") continue;
      if (field.type === "radio" && !field.checked) continue;
      let value;
      if (field.type === "checkbox") value = field.checked;
      else if (field.value === "") {
        if (field.dataset.empty !== "null") continue;
        value = null;
      } else if (field.dataset.type === "number") value = Number(field.value);
      else if (field.dataset.type === "list") {
        value = field.value.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
      } else if (field.dataset.type === "json") value = JSON.parse(field.value);
      else value = field.value;
      const path = field.name.split(".");
      let node = out;
      for (const key of path.slice(0, -1)) node = node[key] = node[key] || {};
      node[path[path.length - 1]] = value;
    }
    return out;
  }

  function fill(template, data) {
    return template.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent((data && data[key]) ?? ""));
  }

  function fillText(template, data) {
    return template.replace(/\{(\w+)\}/g, (_, key) => String((data && data[key]) ?? ""));
  }

  function refresh() {
    if (window.htmx) window.htmx.trigger(document.body, "wagate-refresh");
  }

  async function run(element, body) {
    const data = await call(element.dataset.method || "POST", element.dataset.api, body);
    if (element.dataset.reveal) {
      // an answer shown only once (a webhook's signing secret): keep it on screen
      const box = document.querySelector(element.dataset.revealIn);
      box.hidden = false;
      box.querySelector("[data-value]").textContent = data[element.dataset.reveal];
      const link = box.querySelector("a[data-href]");
      if (link) link.href = fill(link.dataset.href, data);
      return;
    }
    if (element.dataset.redirect) {
      window.location.assign(fill(element.dataset.redirect, data));
      return;
    }
    flash(fillText(element.dataset.done || "Done.", data), "ok");
    refresh();
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    const error = form.querySelector(".form-error");
    if (error) error.textContent = "";
    const button = form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    try {
      await run(form, formJson(form));
      if (form.hasAttribute("data-reset")) form.reset();
    } catch (err) {
      if (error) error.textContent = err.message;
      else flash(err.message, "error");
    } finally {
      if (button) button.disabled = false;
    }
  });

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-api]");
    if (!button) return;
    event.preventDefault();
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    button.disabled = true;
    try {
      await run(button, button.dataset.body ? JSON.parse(button.dataset.body) : undefined);
    } catch (err) {
      flash(err.message, "error");
    } finally {
      button.disabled = false;
    }
  });

  // Transport picker: show the config fields of the chosen transport only.
  for (const picker of document.querySelectorAll("[data-transport-picker]")) {
    const show = () => {
      for (const group of document.querySelectorAll("[data-transport-fields]")) {
        const chosen = group.dataset.transportFields === picker.value;
        group.hidden = !chosen;
        for (const field of group.querySelectorAll("input, select, textarea")) field.disabled = !chosen;
      }
    };
    picker.addEventListener("change", show);
    show();
  }

  // Live updates: the event stream (the login cookie authenticates it) refreshes the page.
  const body = document.body;
  if (body.hasAttribute("data-live") && window.EventSource) {
    let url = "/v1/events/stream";
    if (body.dataset.liveSession) url += "?session_id=" + encodeURIComponent(body.dataset.liveSession);
    const indicator = document.getElementById("live");
    const source = new EventSource(url, { withCredentials: true });
    source.onopen = () => { if (indicator) { indicator.dataset.state = "on"; indicator.title = "live"; } };
    source.onerror = () => { if (indicator) { indicator.dataset.state = "off"; indicator.title = "reconnecting"; } };
    source.onmessage = refresh;
  }
})();
