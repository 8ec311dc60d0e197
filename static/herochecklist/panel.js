// HeroChecklist panel: one ES module, no framework. The same code runs in both hosts: connect.js starts it on
// our Connect page (no build step), forge/src/index.js in the Forge Custom UI bundle; each hands it a transport.
// Every write sends If-Match with the version it saw, so nobody overwrites an unseen change.

import { ApiError } from "./transport.js";
import { customerToggle } from "./customer-visible.js";

const STATUSES = [
  ["todo", "To do"],
  ["in_progress", "In progress"],
  ["done", "Done"],
  ["skipped", "Skipped"],
  ["blocked", "Blocked"],
];
const COMPLETE = new Set(["done", "skipped"]);
const UNDO_SECONDS = 6;

let api = null; // the host's transport (see startPanel)
let base = "";
let hostResize = () => {};

// canEdit follows the server's `permissions.edit` (Jira's Edit issues on this issue). It only decides what we draw:
// the server checks every write again and answers 403 whatever this says.
const state = { version: 0, items: [], progress: null, mode: "list", error: null, conflict: false, templates: null,
                canEdit: false };
const root = document.getElementById("app");

// --- small DOM helpers ----------------------------------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "html") el.innerHTML = value; // only ever the server's sanitized textHtml
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child != null && child !== false) el.append(child instanceof Node ? child : document.createTextNode(child));
  }
  return el;
}

const live = h("div", { class: "hc-sr", role: "status", "aria-live": "polite" });
function announce(message) {
  live.textContent = "";
  requestAnimationFrame(() => (live.textContent = message));
}

function progressOf(items) {
  let done = 0, total = 0, mandatoryOpen = 0;
  for (const item of items) {
    if (item.isHeader) continue;
    total += 1;
    if (COMPLETE.has(item.status)) done += 1;
    else if (item.mandatory) mandatoryOpen += 1;
  }
  return { done, total, mandatoryOpen, percent: total ? Math.round((done * 100) / total) : 0,
           complete: total > 0 && mandatoryOpen === 0 };
}

// --- talking to the API ---------------------------------------------------------------------------------------
function accept(checklist) {
  state.version = checklist.version;
  state.items = checklist.items;
  state.progress = checklist.progress;
  if (checklist.permissions) state.canEdit = checklist.permissions.edit === true;
}

async function load() {
  try {
    accept(await api.request("GET", base));
    state.error = null;
    state.conflict = false;
  } catch (err) {
    state.error = describe(err);
  }
  render();
  // For bench/panel: when the first full render happened, on this page's own clock.
  if (!performance.getEntriesByName("herochecklist-rendered").length) performance.mark("herochecklist-rendered");
}

function describe(err) {
  if (err instanceof ApiError) {
    if (err.status === 401) return "Your session expired. Reload the issue to continue.";
    if (err.status === 403) return "You cannot change this checklist.";
    if (err.status === 413) return "That is too long to save.";
    if (err.status === 429) return "Too many changes at once. Wait a moment and try again.";
    if (err.fields) return Object.entries(err.fields).map(([field, why]) => `${field} ${why}`).join("; ");
    return `The server answered ${err.status}. Your change was not saved.`;
  }
  return navigator.onLine === false
    ? "You are offline. Your text is kept; try again when you are back online."
    : "Could not reach HeroChecklist. Your text is kept; try again.";
}

// Runs one write. On success the local state follows the server; on a conflict the list is marked stale and
// nothing the user typed is thrown away.
async function write(method, path, body, { onItem, announceText } = {}) {
  try {
    const { data, version } = await api.request(method, base + path, body, { ifMatch: state.version, full: true });
    if (data && Array.isArray(data.items)) accept(data);
    else {
      if (onItem) onItem(data);
      if (version != null) state.version = version;
      state.progress = progressOf(state.items);
    }
    state.error = null;
    if (announceText) announce(announceText);
    render();
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 412) {
      state.conflict = true;
      announce("Someone else changed this checklist.");
    } else if (err instanceof ApiError && err.status === 403) {
      // Jira no longer lets this user edit the issue: show what they may still do, which is reading.
      state.canEdit = false;
      state.mode = "list";
      state.error = describe(err);
      announce(state.error);
    } else {
      state.error = describe(err);
      announce(state.error);
    }
    render();
    return false;
  }
}

const itemPath = (item) => `/items/${encodeURIComponent(item.id)}`;
const replaceItem = (updated) => (state.items = state.items.map((i) => (i.id === updated.id ? updated : i)));

function addItem(text, input) {
  let body = { text };
  const header = /^#{1,6}\s+(.*)$/.exec(text);
  if (header) body = { text: header[1], isHeader: true };
  return write("POST", "/items", body, {
    onItem: (item) => state.items.push(item),
    announceText: `Added ${body.isHeader ? "header" : "item"} ${body.text}`,
  }).then((ok) => {
    if (ok && input) {
      input.value = "";
      input.focus();
    }
    return ok;
  });
}

function patchItem(item, fields, message) {
  return write("PATCH", itemPath(item), fields, { onItem: replaceItem, announceText: message });
}

async function deleteItem(item) {
  const index = state.items.indexOf(item);
  const ok = await write("DELETE", itemPath(item), null, {
    onItem: () => (state.items = state.items.filter((i) => i.id !== item.id)),
    announceText: `Deleted ${item.text}`,
  });
  if (ok) showUndo(item, index);
}

function showUndo(item, index) {
  const restore = {
    text: item.text, status: item.status, isHeader: item.isHeader, mandatory: item.mandatory,
    assigneeAccountId: item.assigneeAccountId, dueDate: item.dueDate, position: index,
    visibleToCustomer: item.visibleToCustomer,
  };
  state.undo = {
    label: item.text,
    run: () => write("POST", "/items", restore, {
      onItem: (created) => state.items.splice(Math.min(index, state.items.length), 0, created),
      announceText: `Restored ${item.text}`,
    }),
  };
  clearTimeout(state.undoTimer);
  state.undoTimer = setTimeout(() => { state.undo = null; render(); }, UNDO_SECONDS * 1000);
  render();
}

function reorder(ids, message) {
  return write("PUT", "/order", { itemIds: ids }, { announceText: message });
}

function move(item, delta) {
  const ids = state.items.map((i) => i.id);
  const from = ids.indexOf(item.id);
  const to = from + delta;
  if (to < 0 || to >= ids.length) return;
  ids.splice(to, 0, ids.splice(from, 1)[0]);
  reorder(ids, `Moved ${item.text} to position ${to + 1} of ${ids.length}`).then(() => focusRow(item.id));
}

function focusRow(id) {
  const row = root.querySelector(`[data-id="${CSS.escape(id)}"] .hc-move`);
  if (row) row.focus();
}

// --- rendering ------------------------------------------------------------------------------------------------
function render() {
  const typed = root.querySelector(".hc-add input")?.value ?? "";
  const textDraft = root.querySelector(".hc-text textarea")?.value;
  const parts = state.canEdit ? [
    live,
    renderBanner(),
    renderProgress(),
    state.mode === "text" ? renderTextMode(textDraft) : renderList(),
    state.mode === "list" ? renderAdd(typed) : null,
    renderToolbar(),
    renderUndo(),
  ] : [
    live,
    renderBanner(),
    h("p", { class: "hc-readonly", role: "note" }, "You can view this checklist but not edit it."),
    renderProgress(),
    renderList(),
  ];
  root.replaceChildren(...parts.filter(Boolean));
  resize();
}

function renderBanner() {
  if (state.conflict) {
    return h("div", { class: "hc-banner hc-warning", role: "alert" },
      "Someone else changed this checklist. ",
      h("button", { type: "button", class: "hc-link", onclick: load }, "Reload the latest version"),
      " (what you typed is kept).");
  }
  if (state.error) {
    return h("div", { class: "hc-banner hc-error", role: "alert" }, state.error, " ",
      h("button", { type: "button", class: "hc-link", onclick: load }, "Retry"));
  }
  return null;
}

function renderProgress() {
  const p = state.progress || progressOf(state.items);
  if (!p.total) return null;
  const label = `${p.done} of ${p.total} done` + (p.mandatoryOpen ? `, ${p.mandatoryOpen} required open` : "");
  return h("div", { class: "hc-progress" + (p.complete ? " hc-complete" : "") },
    h("div", { class: "hc-bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
               "aria-valuenow": String(p.percent), "aria-label": "Checklist progress" },
      h("span", { style: `width:${p.percent}%` })),
    h("span", { class: "hc-count" }, `${p.percent}% · ${label}`));
}

function renderList() {
  if (!state.items.length) {
    return h("p", { class: "hc-empty" },
      state.canEdit ? "No checklist yet. Add the first item below, or apply a template." : "No checklist yet.");
  }
  return h("ul", { class: "hc-list", role: "list", "aria-label": "Checklist items" },
    state.items.map((item, index) => (state.canEdit ? renderItem(item, index) : renderReadOnlyItem(item))));
}

// A row without any control that would write: no handle, no checkbox to tick, no status menu, no actions.
function renderReadOnlyItem(item) {
  const row = h("li", { class: `hc-item hc-${item.status}` + (item.isHeader ? " hc-header" : ""), "data-id": item.id });
  if (item.isHeader) {
    row.append(h("h3", { class: "hc-text-cell", html: item.textHtml }));
    return row;
  }
  const status = STATUSES.find(([value]) => value === item.status);
  const meta = h("span", { class: "hc-meta" },
    item.mandatory ? null : h("span", { class: "hc-chip" }, "optional"),
    item.assigneeAccountId ? h("span", { class: "hc-chip", title: "Assignee" }, "@" + item.assigneeAccountId) : null,
    item.dueDate ? h("span", { class: "hc-chip" + (isOverdue(item) ? " hc-overdue" : "") }, "due " + item.dueDate)
      : null);
  row.append(
    h("span", { class: "hc-mark", "aria-hidden": "true" }, COMPLETE.has(item.status) ? "☑" : "☐"),
    h("span", { class: "hc-body" }, h("span", { class: "hc-text-cell", html: item.textHtml }), meta),
    h("span", { class: "hc-status-label" }, status ? status[1] : item.status));
  return row;
}

function renderItem(item, index) {
  const row = h("li", { class: `hc-item hc-${item.status}` + (item.isHeader ? " hc-header" : ""),
                        "data-id": item.id, draggable: "true" });
  row.addEventListener("dragstart", (e) => {
    e.dataTransfer.setData("text/plain", item.id);
    e.dataTransfer.effectAllowed = "move";
    row.classList.add("hc-dragging");
  });
  row.addEventListener("dragend", () => row.classList.remove("hc-dragging"));
  row.addEventListener("dragover", (e) => { e.preventDefault(); row.classList.add("hc-over"); });
  row.addEventListener("dragleave", () => row.classList.remove("hc-over"));
  row.addEventListener("drop", (e) => {
    e.preventDefault();
    row.classList.remove("hc-over");
    const dragged = e.dataTransfer.getData("text/plain");
    const ids = state.items.map((i) => i.id).filter((id) => id !== dragged);
    if (dragged === item.id || !state.items.some((i) => i.id === dragged)) return;
    ids.splice(ids.indexOf(item.id), 0, dragged);
    reorder(ids, "Item moved");
  });

  const handle = h("button", {
    type: "button", class: "hc-move", title: "Drag, or press Alt+Up / Alt+Down to move",
    "aria-label": `Move ${item.text}, position ${index + 1} of ${state.items.length}. Alt+Up or Alt+Down moves it.`,
    onkeydown: (e) => {
      if (e.altKey && e.key === "ArrowUp") { e.preventDefault(); move(item, -1); }
      if (e.altKey && e.key === "ArrowDown") { e.preventDefault(); move(item, 1); }
    },
  }, "⋮⋮");

  if (item.isHeader) {
    row.append(handle, h("h3", { class: "hc-text-cell", html: item.textHtml }), renderActions(item));
    return row;
  }
  const done = COMPLETE.has(item.status);
  const toggle = h("input", {
    type: "checkbox", class: "hc-toggle", checked: item.status === "done",
    "aria-label": `${item.text}: mark ${done ? "not done" : "done"}`,
    onchange: () => patchItem(item, { status: item.status === "done" ? "todo" : "done" },
      `${item.text} ${item.status === "done" ? "reopened" : "done"}`),
  });
  const select = h("select", {
    class: "hc-status", "aria-label": `Status of ${item.text}`,
    onchange: (e) => patchItem(item, { status: e.target.value }, `${item.text}: ${e.target.selectedOptions[0].text}`),
  }, STATUSES.map(([value, label]) => h("option", { value, selected: value === item.status }, label)));
  const text = h("span", { class: "hc-text-cell", html: item.textHtml, tabindex: "0", role: "button",
    "aria-label": `${item.text}. Press Enter to edit.`,
    ondblclick: () => startEdit(item, text),
    onkeydown: (e) => { if (e.key === "Enter" || e.key === "F2") { e.preventDefault(); startEdit(item, text); } },
  });
  const meta = h("span", { class: "hc-meta" },
    item.mandatory ? null : h("span", { class: "hc-chip", title: "Optional: does not block completion" }, "optional"),
    item.assigneeAccountId ? h("span", { class: "hc-chip", title: "Assignee" }, "@" + item.assigneeAccountId) : null,
    item.dueDate ? h("span", { class: "hc-chip" + (isOverdue(item) ? " hc-overdue" : ""), title: "Due date" },
      "due " + item.dueDate) : null);
  row.append(handle, toggle, h("span", { class: "hc-body" }, text, meta), select, renderActions(item));
  return row;
}

function isOverdue(item) {
  return item.dueDate && !COMPLETE.has(item.status) && item.dueDate < new Date().toISOString().slice(0, 10);
}

function renderActions(item) {
  return h("span", { class: "hc-actions" },
    item.isHeader ? null : h("button", { type: "button", class: "hc-icon",
      "aria-label": `${item.mandatory ? "Make optional" : "Make required"}: ${item.text}`,
      title: item.mandatory ? "Required (click to make optional)" : "Optional (click to make required)",
      onclick: () => patchItem(item, { mandatory: !item.mandatory }, item.mandatory ? "Now optional" : "Now required"),
    }, item.mandatory ? "★" : "☆"),
    item.isHeader ? null : customerToggle(item, patchItem),
    h("button", { type: "button", class: "hc-icon", "aria-label": `Delete ${item.text}`, title: "Delete",
      onclick: () => deleteItem(item) }, "✕"));
}

function startEdit(item, cell) {
  const input = h("input", { type: "text", class: "hc-edit", value: item.text, maxlength: "2000",
    "aria-label": "Edit item text" });
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const text = input.value.trim();
    if (save && text && text !== item.text) {
      if (!(await patchItem(item, { text }, "Saved"))) { done = false; return; }
    } else render();
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); finish(true); }
    if (e.key === "Escape") { e.preventDefault(); finish(false); }
  });
  input.addEventListener("blur", () => finish(true));
  cell.replaceWith(input);
  input.focus();
  input.select();
}

function renderAdd(typed) {
  const input = h("input", { type: "text", maxlength: "2000", placeholder: "Add an item (## for a header)",
    "aria-label": "New checklist item", value: typed });
  input.value = typed;
  return h("form", { class: "hc-add", onsubmit: (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (text) addItem(text, input);
  } }, input, h("button", { type: "submit", class: "hc-primary" }, "Add"));
}

function renderTextMode(draft) {
  const area = h("textarea", { rows: String(Math.max(6, state.items.length + 2)), spellcheck: "false",
    "aria-label": "Checklist as text", "aria-describedby": "hc-text-help" });
  area.value = draft ?? state.text ?? "";
  return h("form", { class: "hc-text", onsubmit: async (e) => {
    e.preventDefault();
    const ok = await write("PUT", "/text", area.value, { announceText: "Checklist saved" });
    if (ok) { state.mode = "list"; render(); }
  } },
  area,
  h("p", { id: "hc-text-help", class: "hc-help" },
    "One line each: ## header, - [ ] to do, - [~] in progress, - [x] done, - [-] skipped, - [!] blocked; ",
    "[ ]? marks an optional item; {@accountId due:YYYY-MM-DD} sets assignee and due date."),
  h("div", { class: "hc-row" },
    h("button", { type: "submit", class: "hc-primary" }, "Save"),
    h("button", { type: "button", onclick: () => { state.mode = "list"; render(); } }, "Cancel")));
}

async function openTextMode() {
  try {
    state.text = await api.request("GET", base + "/text", null, { text: true });
    state.mode = "text";
    state.error = null;
  } catch (err) {
    state.error = describe(err);
  }
  render();
  root.querySelector(".hc-text textarea")?.focus();
}

function renderToolbar() {
  if (state.mode !== "list") return null;
  const templates = state.templates || [];
  const picker = h("select", { class: "hc-template", "aria-label": "Template to apply",
    onfocus: loadTemplates }, h("option", { value: "" }, templates.length ? "Apply a template…" : "Templates…"),
    templates.map((t) => h("option", { value: t.id }, t.name)));
  picker.addEventListener("change", () => {
    if (!picker.value) return;
    write("POST", "/apply-template", { templateId: picker.value, mode: "append" }, { announceText: "Template applied" });
  });
  return h("div", { class: "hc-toolbar" },
    h("button", { type: "button", onclick: openTextMode }, "Edit as text"), picker);
}

async function loadTemplates() {
  if (state.templates) return;
  try {
    state.templates = await api.request("GET", "/templates");
    render();
  } catch (err) {
    state.templates = [];
  }
}

function renderUndo() {
  if (!state.undo) return null;
  const undo = state.undo;
  return h("div", { class: "hc-toast", role: "status" }, `Deleted “${undo.label}”. `,
    h("button", { type: "button", class: "hc-link", onclick: () => {
      state.undo = null;
      clearTimeout(state.undoTimer);
      undo.run();
    } }, "Undo"));
}

let lastHeight = 0;
function resize() {
  const height = document.documentElement.scrollHeight;
  if (height !== lastHeight) {
    lastHeight = height;
    hostResize(height);
  }
}

// Starts the panel. host: { api: a createTransport() transport, issueId, resize(heightPx) (optional) }.
export function startPanel(host) {
  api = host.api;
  base = `/issues/${encodeURIComponent(host.issueId)}/checklist`;
  hostResize = host.resize || (() => {});
  window.addEventListener("online", () => { if (state.error) load(); });
  if (window.ResizeObserver) new ResizeObserver(resize).observe(document.body);
  load();
}
