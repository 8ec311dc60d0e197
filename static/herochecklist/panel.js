// HeroChecklist panel: one ES module, no framework. The same code runs in both hosts: connect.js starts it on
// our Connect page (no build step), forge/src/index.js in the Forge Custom UI bundle; each hands it a transport.
// Every write sends If-Match with the version it saw, so nobody overwrites an unseen change.

import { ApiError, fieldsInWords } from "./transport.js";
import { h, plain } from "./dom.js";
import { assigneeChip, assigneeControl, keepInView, mineFilter, personName, resolveAccounts, resolvePeople,
         setupPeople, visibleItems } from "./people.js";
import { dueChip, dueControl, setupDates } from "./dates.js";
import { allStatuses, defineStatuses, isDone, statusOf } from "./statuses.js";
import { menuButton, menuIsOpen } from "./menu.js";
import { captureFocus, restoreFocus } from "./focus.js";
import { listenForUndoKey, offerUndo, undoToast } from "./undo.js";
import { makeDraggable, reorderedIds } from "./drag.js";
import { adoptVersion, itemTag, noteItemConflict, renderItemConflict, settleConflict,
         startLive, uniqueItems } from "./live.js";
import { createTemplatePicker } from "./templates-picker.js";
import { customerToggle } from "./customer-visible.js";

let api = null; // the host's transport (see startPanel)
// "Visible to customer" offered: not in a project the host says is no service desk (an item already shown to customers
// keeps its toggle there, to take it back).
let offerCustomer = true;
let base = "";
let hostResize = () => {};
let liveFeed = null; // live.js: polls for others' changes while the panel is visible
let picker = null; // templates-picker.js
// The History section (history.js) loads with its first opening, as merge.js with a text conflict: most views of a
// checklist never open it, and its module is a tenth of the panel's budget. Until then, only its button.
let changeLog = {
  toggleButton: () => h("button", { type: "button", class: "hc-history-toggle", "data-focus": "history-toggle",
    "aria-expanded": "false", onclick: openHistory }, "History"),
  render: () => null,
  afterRender() {},
};
let editing = null; // the open item editor, { id, input, item } (startEdit)
let rendering = false; // true while render() swaps the panel's DOM

// canEdit follows the server's `permissions.edit` (Jira's Edit issues on this issue). It only decides what we draw:
// the server checks every write again and answers 403 whatever this says.
const state = { version: 0, items: [], progress: null, mode: "list", error: null, conflict: false, templates: null,
                canEdit: false, projectId: "", canManageTemplates: false };
const root = document.getElementById("app");

// --- small DOM helpers ----------------------------------------------------------------------------------------
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
    if (isDone(item.status)) done += 1;
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
  resolvePeople(state.items); // names and avatars from Jira, after the first render: never in its way
  if (Array.isArray(checklist.statuses)) defineStatuses(checklist.statuses); // the site's own, on the GET
  if (checklist.permissions) state.canManageTemplates = checklist.permissions.manageTemplates === true;
  if (checklist.projectId) state.projectId = checklist.projectId;
}

async function load() {
  try {
    const checklist = await api.request("GET", base);
    // Text mode saves against the version it opened (its draft's base): a newer list is the conflict banner's to
    // merge in. Taken as the base here (back online, say), the next save undid the change unseen.
    if (state.mode === "text" && checklist.version !== state.version) state.conflict = true;
    else {
      accept(checklist);
      state.conflict = false;
    }
    state.error = null;
  } catch (err) {
    state.error = describe(err);
    state.retry = load; // only a failed read is worth a Retry button: a refused write would fail the same way
  }
  render();
  // For bench/panel: when the first full render happened, on this page's own clock.
  if (!performance.getEntriesByName("herochecklist-rendered").length) performance.mark("herochecklist-rendered");
}

// The server's 403 when Jira could not be asked (tenants/permissions.py): refused, but worth retrying.
const jiraDidNotAnswer = (err) => Boolean(err.body && err.body.jiraAnswered === false);

function describe(err) {
  if (err instanceof ApiError) {
    if (err.status === 401) return "Your session expired. Reload the issue to continue.";
    if (err.status === 403 && jiraDidNotAnswer(err)) {
      return "Jira did not answer whether you may edit this issue. Nothing was changed; try again in a moment.";
    }
    if (err.status === 403) return "You cannot change this checklist.";
    if (err.status === 413) return "That is too long to save.";
    if (err.status === 429) return "Too many changes at once. Wait a moment and try again.";
    if (err.fields) return fieldsInWords(err.fields);
    return `The server answered ${err.status}. Your change was not saved.`;
  }
  return navigator.onLine === false
    ? "You are offline. Your text is kept; try again when you are back online."
    : "Could not reach HeroChecklist. Your text is kept; try again.";
}

// Runs one write. On success the local state follows the server; on a conflict the list is marked stale and
// nothing the user typed is thrown away.
// onError(err), when given, may handle a failure itself (answer true) instead of the banner.
// A write of one item (`item`) is conditional on that item alone (live.js); ifMatch: null sends no precondition.
async function write(method, path, body, { onItem, announceText, onError, item,
  ifMatch = item ? itemTag(item) : state.version } = {}) {
  try {
    const { data, version } = await api.request(method, base + path, body, { ifMatch, full: true });
    if (data && Array.isArray(data.items)) accept(data);
    else {
      if (onItem) onItem(data);
      state.items = uniqueItems(state.items);
      adoptVersion(state, version, () => liveFeed && liveFeed.now());
      state.progress = progressOf(state.items);
    }
    state.error = null;
    state.retry = null;
    if (announceText) announce(announceText);
    render();
    return true;
  } catch (err) {
    state.retry = null;
    if (onError && onError(err)) {
      render();
      return false;
    }
    if (err instanceof ApiError && err.status === 412 && item && err.body && "currentItem" in err.body) {
      noteItemConflict(state, item, body, err.body.currentItem);
      announce("Someone else changed this item. Both versions are shown.");
    } else if (err instanceof ApiError && err.status === 412) {
      state.conflict = true;
      announce("Someone else changed this checklist.");
    } else if (err instanceof ApiError && err.status === 403 && jiraDidNotAnswer(err)) {
      // Jira was not answering the permission check: an outage, not a lost right. Editing stays; offer the retry.
      state.error = describe(err);
      state.retry = () => write(method, path, body, { onItem, announceText, onError, item, ifMatch });
      announce(state.error);
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

function addItem(text, input, status) {
  let body = status ? { text, status } : { text };
  const header = /^#{1,6}\s+(.*)$/.exec(text);
  if (header) body = { text: header[1], isHeader: true };
  return write("POST", "/items", body, {
    ifMatch: null, // an add never overwrites anyone's change
    onItem: (item) => {
      state.items.push(item);
      keepInView(item.id); // "only my items" would hide it
    },
    announceText: `Added ${body.isHeader ? "header" : "item"} ${body.text}`,
  }).then((ok) => {
    // Typed in the box (`input`; a render may have replaced it since): it was emptied when Enter was pressed (so a
    // second Enter adds nothing twice), and a failed add gets its text back unless the user has typed something new.
    // Pasted lines are kept by addLines instead.
    const box = input && root.querySelector(".hc-add input");
    if (!ok && box && !box.value) box.value = text;
    return ok;
  });
}

// Lines pasted into the add box: an item each, without bullet, number or box ("[x]": done); an input drops line breaks.
function pastedLines(text) {
  return text.split(/\r?\n/).map((line) => line.trim().replace(/^(?:[-*+•]|\d+[.)])\s+/, "")).filter(Boolean);
}

// A failed add stops the rest (the banner says why): the lines not added are kept under the add box, all of them, to
// add again or discard, so a paste never loses lines the user cannot see any more.
async function addLines(lines) {
  state.unadded = null;
  let added = 0;
  for (const line of lines) {
    const box = /^\[([ xX])\]\s+(.*)$/.exec(line);
    const text = box && box[2] ? box[2] : line;
    const ok = await addItem(text, null, text !== line ? (box[1] === " " ? "todo" : "done") : undefined);
    if (!ok) {
      state.unadded = lines.slice(added);
      render();
      break;
    }
    added += 1;
  }
  announce(added === lines.length ? `Added ${added} items` : `Added ${added} of ${lines.length} lines`);
}

function renderUnadded() {
  const lines = state.unadded;
  if (!lines?.length) return null;
  const link = (label, onclick) => h("button", { type: "button", class: "hc-link", onclick }, label);
  return h("div", { class: "hc-banner hc-warning", role: "status" },
    lines.length === 1 ? "1 pasted line was not added. " : `${lines.length} pasted lines were not added. `,
    link("Add again", () => addLines(lines)), " ", link("Discard", () => { state.unadded = null; render(); }));
}

// A change of an item or a keyboard move made before the server answered the one before waits for that answer. Sent
// at once, each carried the version the user saw, which their own change before it was replacing: a 412 ("Someone
// else changed ...", "theirs" being their own change) and the change not saved. Not for ever: behind a write that
// is not answered in 5 s (a stuck connection), the ones after it would all wait unseen; they go anyway.
let line = Promise.resolve();
const queue = (run) => (line = Promise.race([line, new Promise((go) => setTimeout(go, 5000))]).then(run, run));
const mine = {}; // item id: the version this panel's last write of it made
// The item to base a write on: as this panel's own last write of it left it, else as the user saw it (someone else's
// change since is then the conflict it is).
function latest(item) {
  const now = state.items.find((i) => i.id === item.id);
  return now && mine[item.id] === now.version ? now : item;
}

// fields and message: for a toggle, functions of the item it flips (two quick clicks flip it twice, not once).
function patchItem(shown, fields, message) {
  return queue(() => {
    const item = latest(shown);
    if (typeof fields === "function") [fields, message] = [fields(item), message(item)];
    return write("PATCH", itemPath(item), fields, { item, announceText: message,
      onItem: (saved) => { mine[saved.id] = saved.version; replaceItem(saved); } });
  });
}

const deleteItem = (shown) => queue(async () => {
  const item = latest(shown);
  const index = state.items.indexOf(item);
  const restore = {
    text: item.text, status: item.status, isHeader: item.isHeader, mandatory: item.mandatory,
    assigneeAccountId: item.assigneeAccountId, dueDate: item.dueDate, position: index,
    visibleToCustomer: item.visibleToCustomer,
  };
  const undo = () => write("POST", "/items", restore, {
    ifMatch: null, // an add needs no precondition: a change by someone else meanwhile must not refuse the undo
    onItem: (created) => {
      state.items.splice(Math.min(index, state.items.length), 0, created);
      state.focusItem = created.id; // the restored row gets focus back
    },
    announceText: `Restored ${plain(item)}`,
  });
  const ok = await write("DELETE", itemPath(item), null, {
    item,
    onItem: () => (state.items = state.items.filter((i) => i.id !== item.id)),
    announceText: `Deleted ${plain(item)}. Press Control+Z to undo.`,
  });
  if (ok) {
    offerUndo(item.textHtml, undo, render);
    render();
  }
  return ok;
});

function reorder(ids, message) {
  return write("PUT", "/order", { itemIds: ids }, { announceText: message });
}

// Each keyboard move from the order the one before saved (queue).
const move = (item, delta) => queue(() => {
  const ids = state.items.map((i) => i.id);
  const shown = visibleItems(state.items); // with "only my items" on, the neighbour is the next row shown
  const from = ids.indexOf(item.id);
  const neighbour = from >= 0 && shown[shown.indexOf(state.items[from]) + delta];
  if (!neighbour || state.conflict) return;
  const to = ids.indexOf(neighbour.id);
  ids.splice(to, 0, ids.splice(from, 1)[0]);
  return reorder(ids, `Moved ${plain(item)} to position ${to + 1} of ${ids.length}`);
});

// --- rendering ------------------------------------------------------------------------------------------------
// Replaces the panel's DOM from state. The open item editor is moved into the new tree while it is built (startEdit):
// its blur then is no "leaving" it, hence the flag around the whole render.
function render() {
  rendering = true;
  try {
    draw();
  } finally {
    rendering = false;
  }
}

function draw() {
  // Where the user is, before building the new tree takes the open editor out of the page.
  const focused = captureFocus(root);
  if (editing && state.mode === "list" && !state.items.some((i) => i.id === editing.id)) keepDeletedEdit();
  if (editing && state.mode !== "list") editing = null;
  const typed = root.querySelector(".hc-add input")?.value ?? "";
  const textDraft = root.querySelector(".hc-text textarea")?.value;
  const parts = state.canEdit ? [
    live,
    state.mode === "list" ? skipToAdd() : null,
    renderBanner(),
    renderProgress(),
    state.mode === "list" ? mineFilter(state.items) : null,
    state.mode === "text" ? renderTextMode(textDraft) : renderList(),
    state.mode === "list" ? renderAdd(typed) : null,
    state.mode === "list" ? renderUnadded() : null,
    renderToolbar(),
    state.mode === "list" ? changeLog.render() : null,
    undoToast(),
  ] : [
    live,
    renderBanner(),
    h("p", { class: "hc-readonly", role: "note" }, "You can view this checklist but not edit it."),
    renderProgress(),
    mineFilter(state.items),
    renderList(),
    h("div", { class: "hc-row" }, changeLog.toggleButton()), // reading the history needs no Edit right
    changeLog.render(),
  ];
  root.replaceChildren(...parts.filter(Boolean));
  restoreFocus(root, focused, state.focusItem);
  state.focusItem = null;
  changeLog.afterRender(root);
  resize();
}

// A long list's first Tab stop (seen when focused): the add box and toolbar come after some nine stops an item.
const SKIP_FROM_ITEMS = 10;
function skipToAdd() {
  if (state.items.length < SKIP_FROM_ITEMS) return null;
  return h("a", { href: "#", class: "hc-link hc-skip", "data-focus": "skip-add", onclick: (e) => {
    e.preventDefault();
    root.querySelector(".hc-add input")?.focus();
  } }, "Skip to the new item box");
}

// Someone else deleted the item whose editor is open (a live update took it away): what the user typed there is kept
// in the conflict banner ("Add mine again"), as when their save finds it deleted, rather than vanishing with the row.
function keepDeletedEdit() {
  const { item, input } = editing;
  editing = null;
  const typed = input.value.trim();
  if (!typed || typed === item.text) return;
  noteItemConflict(state, item, { text: typed }, null); // after a conflict already shown, if any
  announce(`Someone else deleted ${plain(item)} while you were editing it. Your text is kept.`);
}

// A choice in the conflict banner settles its conflict once its write is done, not any write of the item: a tick in
// the item's row took the banner, and the text kept in it, away unsaved. One write a choice: the button stays until
// the answer, and a second click of "Add mine again" added the item twice.
// (The flag is the panel's, not the conflict's: a 412 meanwhile may re-make the shown conflict as a copy.)
let choosing = false;
function choose(conflict, run) {
  if (choosing) return;
  choosing = true;
  run().finally(() => (choosing = false)).then((ok) => {
    const shown = state.itemConflict; // the same choice, though a later 412 may have merged into it or re-made it
    if (ok && shown && shown.item.id === conflict.item.id && !shown.fields === !conflict.fields) {
      settleConflict(state);
      render();
    }
  });
}

function renderBanner() {
  if (state.itemConflict) {
    return renderItemConflict(h, state, (value) => statusOf(value).name, {
      save: (conflict, fields) => choose(conflict, () => patchItem(conflict.theirs, fields, "Saved")),
      add: (conflict, fields) => choose(conflict, () => write("POST", "/items", fields, { ifMatch: null,
        onItem: (i) => state.items.push(i) })),
      remove: (conflict) => choose(conflict, () => deleteItem(conflict.theirs)),
      dismiss: () => { settleConflict(state); render(); },
    });
  }
  if (state.conflict) {
    return h("div", { class: "hc-banner hc-warning", role: "alert" },
      "Someone else changed this checklist. ",
      h("button", { type: "button", class: "hc-link", onclick: state.mode === "text" ? mergeLatest : load },
        state.mode === "text" ? "Merge in the latest version" : "Reload the latest version"),
      " (what you typed is kept).");
  }
  if (state.error) {
    return h("div", { class: "hc-banner hc-error", role: "alert" }, state.error, " ",
      state.retry ? h("button", { type: "button", class: "hc-link", onclick: state.retry }, "Retry") : null);
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
  const shown = visibleItems(state.items);
  if (!shown.length) return null; // the filter bar says why
  return h("ul", { class: "hc-list", role: "list", "aria-label": "Checklist items" },
    shown.map((item) => (state.canEdit ? renderItem(item, state.items.indexOf(item)) : renderReadOnlyItem(item))));
}

// A row without any control that would write: no handle, no checkbox to tick, no status menu, no actions.
function renderReadOnlyItem(item) {
  const row = h("li", { class: `hc-item hc-${item.status}` + (item.isHeader ? " hc-header" : ""), "data-id": item.id });
  if (item.isHeader) {
    row.append(h("h3", { class: "hc-text-cell", dir: "auto", html: item.textHtml }));
    return row;
  }
  const meta = h("span", { class: "hc-meta" },
    item.mandatory ? null : h("span", { class: "hc-chip" }, "optional"),
    assigneeChip(item),
    dueChip(item, isDone(item.status)));
  row.append(
    h("span", { class: "hc-mark", "aria-hidden": "true" }, isDone(item.status) ? "☑" : "☐"),
    h("span", { class: "hc-body" }, h("span", { class: "hc-text-cell", dir: "auto", html: item.textHtml }), meta),
    lozenge(item.status));
  return row;
}

// A Jira lozenge: the status in words, coloured by its appearance (statuses.js).
function lozenge(key) {
  const status = statusOf(key);
  return h("span", { class: `hc-lozenge hc-lozenge-${status.appearance}`,
    style: status.color ? `border-left: 4px solid ${status.color}` : null }, status.name);
}

function renderItem(item, index) {
  const row = h("li", { class: `hc-item hc-${item.status}` + (item.isHeader ? " hc-header" : ""), "data-id": item.id });
  makeDraggable(row, item.id, (dragged, target, after) => {
    const ids = reorderedIds(state.items.map((i) => i.id), dragged, target, after);
    if (ids) reorder(ids, "Item moved");
  });
  const focusKey = (control) => `${item.id}:${control}`;
  const handle = h("button", {
    type: "button", class: "hc-move", title: "Drag, or press Alt+Up / Alt+Down to move", "data-focus": focusKey("move"),
    "aria-label": `Move ${plain(item)}, position ${index + 1} of ${state.items.length}. Alt+Up or Alt+Down moves it.`,
    onkeydown: (e) => {
      if (e.altKey && e.key === "ArrowUp") { e.preventDefault(); move(item, -1); }
      if (e.altKey && e.key === "ArrowDown") { e.preventDefault(); move(item, 1); }
    },
  }, "⋮⋮");
  // The text is no button (it may hold links); a click on it edits, and so does the Edit button by keyboard.
  // dir="auto" on every item text (here, in its editor and in the add box): each takes the direction of its first
  // strong letter, so a Hebrew or Arabic item reads right to left, its punctuation at its end, in an English page.
  const text = h(item.isHeader ? "h3" : "span", { class: "hc-text-cell", dir: "auto", html: item.textHtml,
    onclick: (e) => { if (!e.target.closest("a")) startEdit(item, text); } });
  // The item's editor, when open, goes back in place of its text: what the user typed survives any render (a write,
  // someone else's change arriving live), and focus.js gives it focus and caret back by its data-focus key.
  const cell = editing && editing.id === item.id ? editing.input : text;

  if (item.isHeader) {
    row.append(handle, cell, renderActions(item, text));
    return row;
  }
  const toggle = h("input", {
    type: "checkbox", class: "hc-toggle", checked: item.status === "done", "data-focus": focusKey("toggle"),
    // One name whatever the state ("Deploy done", checked or not): a name that changed with the state would make a
    // control found by name vanish when it is ticked, for a screen reader's list of controls as for a test.
    "aria-label": `${plain(item)} done`,
    onchange: () => patchItem(item, (now) => ({ status: now.status === "done" ? "todo" : "done" }),
      (now) => `${plain(item)} ${now.status === "done" ? "reopened" : "done"}`),
  });
  const current = statusOf(item.status);
  const status = menuButton({
    label: `Status of ${plain(item)}: ${current.name}`, className: "hc-status", focusKey: focusKey("status"),
    content: [lozenge(item.status), h("span", { class: "hc-caret", "aria-hidden": "true" }, "▾")],
    options: allStatuses().map((s) => ({ value: s.key, content: lozenge(s.key) })),
    value: item.status, onToggle: resize,
    onSelect: (value) => patchItem(item, { status: value }, `${plain(item)}: ${statusOf(value).name}`),
  });
  status.firstChild.dataset.status = item.status;
  const meta = h("span", { class: "hc-meta" },
    item.mandatory ? null : h("span", { class: "hc-chip", title: "Optional: does not block completion" }, "optional"),
    assigneeControl(item, (accountId, name) => patchItem(item, { assigneeAccountId: accountId },
      accountId ? `${plain(item)} assigned to ${name}` : `${plain(item)} unassigned`)),
    dueControl(item, isDone(item.status), (dueDate) => patchItem(item, { dueDate },
      dueDate ? `${plain(item)} due ${dueDate}` : `${plain(item)}: due date removed`)));
  row.append(handle, toggle, h("span", { class: "hc-body" }, cell, meta), status, renderActions(item, text));
  return row;
}

function renderActions(item, cell) {
  const required = item.isHeader ? null : h("label", { class: "hc-req", title:
      "Required items must be done or skipped before the checklist counts as complete" },
    h("input", { type: "checkbox", checked: item.mandatory, "data-focus": `${item.id}:required`,
      "aria-label": `Required: ${plain(item)}`,
      onchange: () => patchItem(item, (now) => ({ mandatory: !now.mandatory }),
        (now) => `${plain(item)} is now ${now.mandatory ? "optional" : "required"}`) }),
    h("span", { "aria-hidden": "true" }, "Required"));
  return h("span", { class: "hc-actions" }, required,
    item.isHeader || !(offerCustomer || item.visibleToCustomer) ? null : customerToggle(item, patchItem),
    h("button", { type: "button", class: "hc-icon", "data-focus": `${item.id}:edit`,
      "aria-label": `${item.isHeader ? "Rename" : "Edit"} ${plain(item)}`, title: item.isHeader ? "Rename" : "Edit",
      onclick: () => startEdit(item, cell) }, "✎"),
    h("button", { type: "button", class: "hc-icon", "aria-label": `Delete ${plain(item)}`, title: "Delete",
      "data-focus": `${item.id}:delete`, onclick: () => deleteItem(item) }, "✕"));
}

// Edits the text in place; Enter or leaving the field saves, Escape cancels. Focus then returns to the row's Edit
// button (the render that follows finds it by its data-focus key).
function startEdit(item, cell) {
  // No maxlength here or in the add box: a browser cuts a longer paste silently; the server names the limit instead
  // (422 "Text must be at most 2000 characters") and the text stays in the box to be shortened.
  const input = h("input", { type: "text", class: "hc-edit", dir: "auto", value: item.text,
    "data-focus": `${item.id}:edit`, "aria-label": item.isHeader ? "Header text" : "Item text" });
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    editing = null;
    const text = input.value.trim();
    if (save && text && text !== item.text) {
      // Refused (too long, offline): the editor stays with the typed text (a conflict's banner keeps it itself).
      if (!(await patchItem(item, { text }, "Saved")) && state.canEdit && !state.itemConflict) {
        done = false;
        editing = { id: item.id, input, item };
        render();
      }
    } else render();
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); finish(true); }
    if (e.key === "Escape") { e.preventDefault(); finish(false); }
  });
  input.addEventListener("blur", () => { if (!rendering) finish(true); }); // not when a render moves it
  editing = { id: item.id, input, item };
  cell.replaceWith(input);
  input.focus();
  input.select();
}

function renderAdd(typed) {
  const input = h("input", { type: "text", dir: "auto", placeholder: "Add an item (## for a header)",
    "aria-label": "New checklist item", value: typed, "data-focus": "add" });
  input.value = typed;
  input.addEventListener("paste", (e) => {
    const lines = pastedLines(e.clipboardData?.getData("text/plain") ?? "");
    if (lines.length < 2) return;
    e.preventDefault();
    addLines(lines);
  });
  return h("form", { class: "hc-add", onsubmit: (e) => {
    e.preventDefault();
    const text = input.value.trim();
    input.value = ""; // at once: the next keystrokes start the next item, and a second Enter adds nothing twice
    if (text) addItem(text, input);
  } }, input, h("button", { type: "submit", class: "hc-primary", "data-focus": "add-button" }, "Add"));
}

// Text mode. A refused text names its bad lines ("line 3"): they are listed under the box, and the first one is
// selected in it so the user can fix it at once; each listed line selects its own when clicked.
function renderTextMode(draft) {
  const area = h("textarea", { rows: String(Math.max(6, state.items.length + 2)), spellcheck: "false",
    "aria-label": "Checklist as text", "aria-describedby": "hc-text-help" + (state.textErrors ? " hc-text-errors" : ""),
    "aria-invalid": state.textErrors ? "true" : false, "data-focus": "text" });
  area.value = draft ?? state.text ?? "";
  // Ctrl/Cmd+Enter saves, as in Jira's editors.
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); area.form?.requestSubmit(); }
  });
  // The alert is a <div> around the list: role="alert" on the <ul> itself would take its list semantics away (its
  // <li>s then belong to no list for a screen reader).
  const errors = state.textErrors && h("div", { id: "hc-text-errors", class: "hc-banner hc-error", role: "alert" },
    h("ul", { class: "hc-text-error-list" }, state.textErrors.map(([line, why]) => h("li", {},
      h("button", { type: "button", class: "hc-link", onclick: () => selectLine(area, line) }, `Line ${line}`),
      `: ${why}`))));
  const clashes = state.textClashes && h("div", { class: "hc-banner hc-warning", role: "note" },
    clashSentence(state.textClashes.length), " Was: ",
    state.textClashes.map((clash, i) => [i ? ", " : "", h("q", { dir: "auto" }, clash.was)]).flat(), ".");
  const form = h("form", { class: "hc-text", "data-focus-return": "text-mode", onsubmit: async (e) => {
    e.preventDefault();
    // A box the user emptied means no items. The server refuses a zero-byte body (what a lost body looks like) and
    // clears the list on a blank line, which says so.
    const text = area.value.trim() ? area.value : "\n";
    const ok = await write("PUT", "/text", text, { announceText: "Checklist saved", onError: textError });
    if (ok) { state.mode = "list"; state.textErrors = null; state.textClashes = null; render(); }
    else if (state.textErrors) selectLine(root.querySelector(".hc-text textarea"), state.textErrors[0][0]);
  } },
  area,
  errors,
  clashes,
  h("p", { id: "hc-text-help", class: "hc-help" },
    "One line each: ## header, - [ ] to do, - [~] in progress, - [x] done, - [-] skipped, - [!] blocked; ",
    "[ ]? marks an optional item; {@accountId due:YYYY-MM-DD customer} sets any of assignee, due date and ",
    "visible to customers. Ctrl+Enter saves.",
    siteStatusHelp()),
  h("div", { class: "hc-row" },
    h("button", { type: "submit", class: "hc-primary", "data-focus": "text-save" }, "Save"),
    h("button", { type: "button", "data-focus": "text-cancel",
      onclick: () => { state.mode = "list"; state.textErrors = null; state.textClashes = null; render(); } },
    "Cancel")));
  return form;
}

// A 422 naming lines becomes the list under the text box; anything else goes to the banner as usual.
function textError(err) {
  const lines = err instanceof ApiError && err.fields ? Object.entries(err.fields)
    .filter(([field]) => /^line \d+$/.test(field)).map(([field, why]) => [Number(field.slice(5)), why]) : [];
  state.textErrors = lines.length ? lines.sort((a, b) => a[0] - b[0]) : null;
  if (lines.length) announce(`Line ${lines[0][0]}: ${lines[0][1]}`);
  return lines.length > 0;
}

function selectLine(area, line) {
  if (!area) return;
  const lines = area.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  area.focus();
  area.setSelectionRange(start, start + (lines[line - 1] || "").length);
}

function siteStatusHelp() {
  const own = allStatuses().filter((s) => !s.builtin);
  return own.length ? " This site's statuses: " + own.map((s) => `- [${s.key}] ${s.name}`).join(", ") + "." : null;
}

async function openTextMode() {
  try {
    state.text = await api.request("GET", base + "/text", null, { text: true });
    state.mode = "text";
    state.error = null;
    state.textErrors = null;
    state.textClashes = null;
  } catch (err) {
    state.error = describe(err);
    state.retry = openTextMode;
  }
  render();
  root.querySelector(".hc-text textarea")?.focus();
}

// Text mode's conflict banner: the latest text merged into the draft (merge.js); the next save is based on it.
async function mergeLatest() {
  const area = root.querySelector(".hc-text textarea");
  const mine = area ? area.value : state.text;
  try {
    // The list, then its text (as new or newer: a save is never based on unseen changes, it 412s again).
    const checklist = await api.request("GET", base);
    const theirs = await api.request("GET", base + "/text", null, { text: true });
    const { mergeText } = await import("./merge.js");
    const merged = mergeText(state.text ?? "", mine, theirs);
    accept(checklist);
    state.text = theirs;
    state.conflict = false;
    state.textClashes = merged.clashes.length ? merged.clashes : null;
    if (area) area.value = merged.text; // draw() keeps it as the draft
    announce(merged.clashes.length ? `Merged. ${clashSentence(merged.clashes.length)}`
      : "Merged with the latest version. Check it and save.");
  } catch (err) {
    state.error = describe(err);
    state.retry = mergeLatest;
  }
  render();
  const box = root.querySelector(".hc-text textarea");
  if (state.textClashes) selectLine(box, state.textClashes[0].line);
  else box?.focus();
}

const clashSentence = (n) => `${n === 1 ? "One line was" : `${n} lines were`} changed by you and by someone else: ` +
  "both versions are in the box, keep the one you want.";

function renderToolbar() {
  if (state.mode !== "list") return null;
  return h("div", { class: "hc-toolbar" },
    h("span", { class: "hc-row" },
      h("button", { type: "button", onclick: openTextMode, "data-focus": "text-mode" }, "Edit as text"),
      changeLog.toggleButton()),
    picker.render());
}


async function openHistory() {
  try {
    const { createHistory } = await import("./history.js");
    changeLog = createHistory({ api, path: base, version: () => state.version, items: () => state.items,
      statusName: (key) => statusOf(key).name, nameOf: personName, resolve: resolveAccounts, rerender: render,
      describe: (err) => (err instanceof ApiError && err.status !== 401
        ? `Could not load the history (the server answered ${err.status}).` : describe(err)) });
    changeLog.toggle();
  } catch (err) {
    state.error = describe(err);
    state.retry = openHistory;
    render();
  }
}

let lastHeight = 0;
// The body's height, with an open menu or popover that reaches below it: the document's scrollHeight never falls
// below the iframe's own height, so the panel would grow but never shrink back after items go or a menu closes.
function resize() {
  const height = document.body.scrollHeight;
  if (height !== lastHeight) {
    lastHeight = height;
    hostResize(height);
  }
}

// Starts the panel. host: { api: a createTransport() transport, issueId, resize(heightPx) (optional), jira (Jira
// REST reads as the current user, people.js; optional), accountId (the current user's; optional) }.
export function startPanel(host) {
  api = host.api;
  base = `/issues/${encodeURIComponent(host.issueId)}/checklist`;
  hostResize = host.resize || (() => {});
  offerCustomer = host.serviceDesk !== false;
  setupPeople({ jira: host.jira, accountId: host.accountId, rerender: render });
  setupDates({ rerender: render });
  picker = createTemplatePicker({ api, h, root, getState: () => ({ ...state, base }), write, rerender: render,
                                  announce, describe });
  window.addEventListener("online", () => { if (state.error) load(); });
  listenForUndoKey(document);
  if (window.ResizeObserver) new ResizeObserver(resize).observe(document.body);
  load().then(() => {
    liveFeed = startLive({ api, path: base, current: () => state.version, onChange: (checklist) => {
      if (state.mode === "text") return; // a text save stays based on what it opened: a change meanwhile is its 412
      // Nor while a menu is open: the render would close it under the user's keys (focus thrown on the row's handle).
      // The change keeps coming with each poll (live.js asks from the version shown) and shows once it closes.
      if (menuIsOpen()) return;
      state.conflict = false;
      accept(checklist);
      render(); // keeps the user's place: focus, caret and an open editor (focus.js, startEdit)
    } });
  });
}
