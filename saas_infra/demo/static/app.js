// The demo page's behaviour: sends the verbs, polls the operations and the fleet.
// A static file because the Content-Security-Policy forbids inline script. It inserts HTML only
// from the server's escaping templates (the fleet and tenant fragments); everything it builds
// itself (operations, keys) goes through textContent.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const settings = document.body.dataset;
const opened = new Set(); // tenants whose detail row is open
const details = new Map(); // their last detail HTML, so a refresh does not flicker
let running = new Set(); // ids of running jobs
let fleetTimer = null;
let fleetSeq = 0;
let jobsTimer = null;
let stopped = false;
let creating = null; // the id of the create job the form's contents started

const $ = (id) => document.getElementById(id);

function el(name, text, className) {
  const node = document.createElement(name);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function flash(text) {
  const box = $("flash");
  box.textContent = text || "";
  box.hidden = !text;
}

function sessionLost() {
  stopped = true;
  flash("This page's session ended (did the demo restart?). Open the URL it printed, with ?token=…");
}

async function send(url, data) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(data || {}),
  });
  if (response.status === 403) sessionLost();
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(payload.error || `${response.status} ${response.statusText}`);
    error.field = payload.field; // a create form field the refusal is about
    throw error;
  }
  return payload;
}

// Returns the started job's id, or null when the demo refused; a refusal about one of the
// create form's fields is shown beside that field, any other in the Operations card.
async function act(url, data) {
  let payload;
  try {
    payload = await send(url, data);
    flash("");
  } catch (error) {
    if (!error.field || !fieldError(error.field, error.message)) flash(error.message);
    return null;
  }
  await pollJobs();
  refreshFleet();
  return payload.job;
}

function fieldError(name, text) {
  const box = $(`error-${name}`);
  const input = $("create-form").querySelector(`[name="${name}"]`);
  if (!box || !input) return false;
  box.textContent = text || "";
  box.hidden = !text;
  if (text) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  if (text) input.focus();
  return true;
}

function clearFieldErrors() {
  for (const box of document.querySelectorAll("#create-form .field-error")) {
    fieldError(box.id.replace(/^error-/, ""), "");
  }
}

// --- the fleet ------------------------------------------------------------------------------

async function refreshFleet() {
  if (stopped) return;
  const seq = ++fleetSeq;
  clearTimeout(fleetTimer);
  try {
    const response = await fetch("/fragment/fleet");
    if (response.status === 403) return sessionLost();
    const html = await response.text();
    if (seq !== fleetSeq) return; // a newer refresh overtook this one
    $("fleet").innerHTML = html; // escaped by the server's templates
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    for (const name of opened) showDetail(name);
  } catch (error) {
    $("updated").textContent = "refresh failed: " + error.message;
  } finally {
    if (seq === fleetSeq && !stopped) {
      const wait = running.size ? settings.refreshBusy : settings.refreshIdle;
      fleetTimer = setTimeout(refreshFleet, Number(wait));
    }
  }
}

function tenantBody(name) {
  return document.querySelector(`tbody[data-tenant="${CSS.escape(name)}"]`);
}

async function showDetail(name) {
  let body = tenantBody(name);
  if (!body || !body.querySelector("tr.detail")) {
    opened.delete(name);
    return;
  }
  setOpen(body, true);
  if (details.has(name)) body.querySelector(".detail-body").innerHTML = details.get(name);
  const response = await fetch("/fragment/tenant/" + encodeURIComponent(name));
  if (response.status === 403) return sessionLost();
  const html = await response.text();
  details.set(name, html);
  body = tenantBody(name); // the table may have been redrawn meanwhile
  if (body && opened.has(name)) body.querySelector(".detail-body").innerHTML = html;
}

function setOpen(body, open) {
  body.querySelector("tr.detail").hidden = !open;
  body.classList.toggle("open", open);
  body.querySelector("button.toggle").setAttribute("aria-expanded", String(open));
}

function toggle(name) {
  const body = tenantBody(name);
  if (!body) return;
  if (opened.has(name)) {
    opened.delete(name);
    setOpen(body, false);
  } else {
    opened.add(name);
    showDetail(name);
  }
}

// --- operations -----------------------------------------------------------------------------

async function pollJobs() {
  if (stopped) return;
  clearTimeout(jobsTimer);
  try {
    const response = await fetch("/api/jobs");
    if (response.status === 403) return sessionLost();
    const jobs = (await response.json()).jobs;
    renderJobs(jobs);
    for (const job of jobs) if (job.keys) showKeys(job);
    for (const job of jobs) if (job.id === creating && job.state !== "running") createEnded(job);
    const now = new Set(jobs.filter((job) => job.state === "running").map((job) => job.id));
    const ended = [...running].some((id) => !now.has(id));
    running = now;
    if (ended) refreshFleet();
  } catch (error) {
    // the next poll tries again
  } finally {
    if (!stopped) jobsTimer = setTimeout(pollJobs, running.size ? 700 : 3000);
  }
}

function renderJobs(jobs) {
  const list = $("jobs");
  list.replaceChildren();
  if (!jobs.length) list.append(el("li", "No operations yet.", "empty"));
  for (const job of jobs) {
    const item = el("li", null, `job ${job.state}`);
    item.dataset.tenant = job.tenant;
    const head = el("div", null, "job-head");
    head.append(el("strong", `${job.kind} ${job.tenant}`), el("span", job.state, `badge ${badgeOf(job.state)}`),
      el("span", `${job.seconds}s`, "muted"));
    item.append(head);
    if (job.state === "running" && job.lines.length) item.append(el("div", job.lines.at(-1), "job-line"));
    if (job.message) item.append(el("div", job.message, "job-message"));
    list.append(item);
  }
}

function badgeOf(state) {
  return { running: "busy", done: "ok", failed: "bad" }[state] || "muted";
}

function showKeys(job) {
  const box = el("div", null, "keys");
  box.append(el("h3", `Keys for ${job.tenant}: shown only this once`));
  box.append(el("p", `Save them now. Later, \`saas-infra credentials ${job.tenant}\` reads them back from Railway.`, "hint"));
  const list = el("dl");
  for (const [name, value] of Object.entries(job.keys)) {
    const copy = el("button", "Copy", "secondary copy");
    copy.type = "button";
    copy.dataset.action = "copy-key";
    copy.setAttribute("aria-label", `Copy ${name}`);
    const row = el("dd");
    row.append(el("span", value, "key"), copy);
    list.append(el("dt", name), row);
  }
  box.append(list);
  const done = el("button", "I have saved them");
  done.type = "button";
  done.dataset.action = "dismiss-keys";
  box.append(done);
  $("keys").append(box);
}

// --- the delete dialog ----------------------------------------------------------------------

function openDeleteDialog(name) {
  const dialog = $("delete-dialog");
  dialog.dataset.name = name;
  $("delete-name").textContent = name;
  $("confirm-name").value = "";
  $("grace-days").value = "7";
  dialog.querySelector('[data-dialog="force"]').disabled = true;
  dialog.showModal();
}

function onDialogClick(event) {
  const button = event.target.closest("button[data-dialog]");
  if (!button) return;
  const dialog = $("delete-dialog");
  const name = dialog.dataset.name;
  const url = `/api/tenants/${encodeURIComponent(name)}/delete`;
  const choice = button.dataset.dialog;
  dialog.close();
  if (choice === "schedule") act(url, { grace_days: Number($("grace-days").value) });
  if (choice === "force") act(url, { force: true, confirm: $("confirm-name").value });
}

// --- wiring ---------------------------------------------------------------------------------

function onClick(event) {
  const button = event.target.closest("button[data-action]");
  if (!button) {
    const row = event.target.closest("tr.row[data-openable]");
    if (row && !event.target.closest("a")) toggle(row.closest("tbody").dataset.tenant);
    return;
  }
  const name = button.dataset.name;
  const base = name ? `/api/tenants/${encodeURIComponent(name)}` : "";
  switch (button.dataset.action) {
    case "toggle": return toggle(name);
    case "apply": return act(`${base}/apply`);
    case "redeploy": return act(`${base}/redeploy`);
    case "cancel-delete": return act(`${base}/cancel-delete`);
    case "delete": return openDeleteDialog(name);
    case "dismiss-keys": return button.closest(".keys").remove();
    case "copy-key": return copyKey(button);
    case "refresh": return refreshFleet();
  }
}

async function copyKey(button) {
  const value = button.closest("dd").querySelector(".key").textContent;
  try {
    await navigator.clipboard.writeText(value);
  } catch (error) {
    // no clipboard API (an insecure origin, a refused permission): select it for Ctrl-C
    const range = document.createRange();
    range.selectNodeContents(button.closest("dd").querySelector(".key"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    button.textContent = "Selected: press Ctrl-C";
    return;
  }
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
}

// The create form keeps what was typed until its create succeeds: a refusal or a failed job
// leaves it for a correction, not a retyping.
async function onCreate(event) {
  event.preventDefault();
  const form = event.target;
  const data = Object.fromEntries(new FormData(form));
  const button = form.querySelector('button[type="submit"]');
  clearFieldErrors();
  button.disabled = true;
  creating = await act("/api/tenants", data);
  button.disabled = false;
}

function createEnded(job) {
  creating = null;
  const form = $("create-form");
  if (job.state === "done" && form.elements.name.value.trim() === job.tenant) {
    form.reset();
    showSource("repo");
  }
}

function showSource(source) {
  for (const part of document.querySelectorAll("[data-source]")) part.hidden = part.dataset.source !== source;
}

document.addEventListener("click", onClick);
$("delete-dialog").addEventListener("click", onDialogClick);
$("confirm-name").addEventListener("input", (event) => {
  const dialog = $("delete-dialog");
  dialog.querySelector('[data-dialog="force"]').disabled = event.target.value !== dialog.dataset.name;
});
$("create-form").addEventListener("submit", onCreate);
$("create-form").addEventListener("change", (event) => {
  if (event.target.name === "source") showSource(event.target.value);
});
pollJobs();
fleetTimer = setTimeout(refreshFleet, Number(settings.refreshIdle));
