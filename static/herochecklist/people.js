// People on the checklist, the way Jira shows them: assignee chips with avatar and display name, an assignee picker
// that searches the site's users, and the "only my items" filter. Names and avatars come from Jira in the browser,
// as the current user (Connect: AP.request; Forge: requestJira), and live only in this page's memory: our server
// is sent the accountId and nothing else about a person, so no name, email or avatar can reach its database or logs.

import { h, plain } from "./dom.js";

const SEARCH_MAX = 10; // people listed by the picker
const BULK_MAX = 50; // accountIds per lookup: one call for any realistic checklist, a URL far under every limit
const SEARCH_DELAY_MS = 200; // typing pauses this long before we ask Jira

// Jira REST reads on Connect: AP.request runs them in the Jira page, as the signed-in user, and answers { body }.
export function apJira(AP) {
  if (!AP || typeof AP.request !== "function") return null;
  return async (path) => JSON.parse((await AP.request({ url: path, type: "GET" })).body);
}

// The page's cache of people by accountId. jira(path) answers a Jira REST GET as parsed JSON (or is null where the
// host offers no way to Jira: then every chip says "Assigned" and the picker says why it cannot search).
export function createDirectory(jira) {
  const known = new Map(); // accountId -> { accountId, name, avatar }, or null: Jira did not return that account
  const pending = new Map(); // accountId -> the lookup in flight

  // Keeps what a chip shows and no more: Jira may also send an email address, which we neither keep nor show.
  function remember(user) {
    const urls = user.avatarUrls || {};
    const person = {
      accountId: user.accountId,
      name: typeof user.displayName === "string" && user.displayName ? user.displayName : "Unknown user",
      avatar: urls["24x24"] || urls["32x32"] || urls["48x48"] || "",
    };
    known.set(user.accountId, person);
    return person;
  }

  async function lookup(batch) {
    const query = batch.map((id) => `&accountId=${encodeURIComponent(id)}`).join("");
    const page = await jira(`/rest/api/3/user/bulk?maxResults=${BULK_MAX}${query}`);
    for (const user of (page && page.values) || []) {
      if (user && typeof user.accountId === "string" && batch.includes(user.accountId)) remember(user);
    }
    for (const id of batch) if (!known.has(id)) known.set(id, null);
  }

  // Looks up each accountId not seen on this page yet, at most once (a failed lookup is tried again next time).
  function resolve(ids) {
    const wanted = [...new Set(ids.filter(Boolean))];
    if (jira) {
      const missing = wanted.filter((id) => !known.has(id) && !pending.has(id));
      for (let start = 0; start < missing.length; start += BULK_MAX) {
        const batch = missing.slice(start, start + BULK_MAX);
        const call = lookup(batch)
          .catch(() => {})
          .finally(() => batch.forEach((id) => pending.delete(id)));
        batch.forEach((id) => pending.set(id, call));
      }
    }
    return Promise.all(wanted.map((id) => pending.get(id))).then(() => undefined);
  }

  // Active people (not apps) matching the query, as Jira finds them.
  async function search(query) {
    const users = await jira(`/rest/api/3/user/search?query=${encodeURIComponent(query)}&maxResults=${SEARCH_MAX}`);
    return (Array.isArray(users) ? users : [])
      .filter((u) => u && typeof u.accountId === "string" && u.active !== false)
      .filter((u) => (u.accountType || "atlassian") === "atlassian")
      .map(remember);
  }

  return { resolve, search, get: (id) => known.get(id), canSearch: () => jira != null };
}

// --- the panel's side ------------------------------------------------------------------------------------------
let directory = createDirectory(null);
let me = ""; // the current user's accountId ("" when the panel does not know it: no "mine" filter then)
let render = () => {};
let mineOnly = false; // the "only my items" filter, kept while this page lives
let picker = null; // the open picker: { itemId, query, results, active, status }, kept across re-renders
let pickerEl = null;
let searchTicket = 0;
let searchTimer = 0;

// host: { jira (apJira / forgeJira, or null), accountId, rerender }.
export function setupPeople({ jira, accountId, rerender }) {
  directory = createDirectory(jira || null);
  me = typeof accountId === "string" ? accountId : "";
  render = rerender;
}

// After every load: who the chips name (and the current user, for the picker's first suggestion).
export function resolvePeople(items) {
  directory.resolve([...items.map((item) => item.assigneeAccountId), me]).then(() => {
    for (const chip of document.querySelectorAll(".hc-person[data-account]")) fillPerson(chip, chip.dataset.account);
  });
}

function nameOf(accountId) {
  const person = directory.get(accountId);
  return person ? person.name : person === null ? "Unknown user" : "Assigned";
}

// The item's text goes in aria-label, never in a text node: a search of the panel for an item's text finds the item.
function fillPerson(chip, accountId) {
  const person = directory.get(accountId);
  const name = nameOf(accountId);
  const button = chip.closest("[data-assignee-for]");
  if (button) button.setAttribute("aria-label", `Assignee of ${button.dataset.itemText}: ${name}`);
  chip.replaceChildren(
    person && person.avatar
      ? h("img", { class: "hc-avatar", src: person.avatar, alt: "", width: "16", height: "16",
                   referrerpolicy: "no-referrer" })
      : h("span", { class: "hc-avatar hc-avatar-blank", "aria-hidden": "true" }),
    h("span", { class: "hc-person-name" }, name));
}

function personChip(accountId) {
  const chip = h("span", { class: "hc-person", "data-account": accountId });
  fillPerson(chip, accountId);
  return chip;
}

// The assignee as a read-only row shows it.
export function assigneeChip(item) {
  if (!item.assigneeAccountId) return null;
  return h("span", { class: "hc-chip hc-assignee" }, h("span", { class: "hc-sr" }, "Assignee: "),
    personChip(item.assigneeAccountId));
}

// The assignee of an editable row: a chip that opens the picker. assign(accountId or null, name) saves.
export function assigneeControl(item, assign) {
  if (picker && picker.itemId === item.id) return renderPicker(item, assign);
  const id = item.assigneeAccountId;
  const button = h("button", {
    type: "button", class: "hc-chip hc-assignee" + (id ? "" : " hc-unset"), "data-assignee-for": item.id,
    "data-focus": `${item.id}:assignee`, "data-item-text": plain(item), "aria-haspopup": "listbox", onclick: () => openPicker(item),
    "aria-label": id ? `Assignee of ${plain(item)}: ${nameOf(id)}` : `Assign ${plain(item)}`,
  }, id ? personChip(id) : "Assign");
  return button;
}

function focusAssignee(itemId) {
  document.querySelector(`[data-assignee-for="${CSS.escape(itemId)}"]`)?.focus();
}

function suggestions() {
  const mine = me && directory.get(me);
  return mine ? [mine] : [];
}

function openPicker(item) {
  picker = { itemId: item.id, query: "", results: suggestions(), active: 0, status: "" };
  render();
  pickerEl?.querySelector("input").focus();
}

function closePicker(itemId, { focus }) {
  picker = null;
  pickerEl = null;
  clearTimeout(searchTimer);
  render();
  if (focus) focusAssignee(itemId);
}

async function choose(item, person, assign) {
  picker = null;
  pickerEl = null;
  clearTimeout(searchTimer);
  await assign(person ? person.accountId : null, person ? person.name : "");
  focusAssignee(item.id);
}

// The WAI-ARIA combobox: focus stays in the text box, arrows move the active option (aria-activedescendant), Enter
// picks it, Escape closes; the listbox answers clicks too.
function renderPicker(item, assign) {
  const input = h("input", {
    type: "text", class: "hc-picker-input", role: "combobox", "aria-controls": "hc-people",
    "aria-autocomplete": "list", "aria-label": `Assign ${plain(item)} to`, placeholder: "Search people",
    autocomplete: "off", spellcheck: "false", "data-picker-for": item.id, "data-focus": `${item.id}:picker`,
  });
  input.value = picker.query;
  input.addEventListener("input", () => {
    picker.query = input.value;
    search();
  });
  input.addEventListener("keydown", (e) => {
    const count = picker.results.length;
    if ((e.key === "ArrowDown" || e.key === "ArrowUp") && count) {
      e.preventDefault();
      picker.active = (picker.active + (e.key === "ArrowDown" ? 1 : count - 1)) % count;
      paint();
      pickerEl.querySelector(`#hc-people-${picker.active}`)?.scrollIntoView({ block: "nearest" });
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (count) choose(item, picker.results[picker.active], assign);
    } else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      closePicker(item.id, { focus: true });
    }
  });
  const list = h("ul", { id: "hc-people", role: "listbox", class: "hc-people", "aria-label": "People" });
  list.addEventListener("mousedown", (e) => e.preventDefault()); // the text box keeps the focus
  list.addEventListener("click", (e) => {
    const option = e.target.closest("[role=option]");
    if (option) choose(item, picker.results[Number(option.dataset.index)], assign);
  });
  const el = h("div", { class: "hc-picker", role: "group", "aria-label": `Assignee of ${plain(item)}` },
    input, list, h("p", { class: "hc-picker-status", "aria-live": "polite" }),
    item.assigneeAccountId
      ? h("button", { type: "button", class: "hc-unassign", onmousedown: (e) => e.preventDefault(),
        onclick: () => choose(item, null, assign) }, "Unassign")
      : null);
  // Leaving the picker (Tab, a click elsewhere) closes it; a re-render that replaced it does not.
  el.addEventListener("focusout", () => setTimeout(() => {
    if (pickerEl === el && !el.contains(document.activeElement)) closePicker(item.id, { focus: false });
  }, 0));
  pickerEl = el;
  paint();
  return el;
}

const STATUS_TEXT = {
  "": () => (directory.canSearch() ? "Type a name to search people." : "People search is not available here."),
  searching: () => "Searching…",
  none: (q) => `No one matches “${q}”.`,
  error: () => "Could not search people in Jira. Try again.",
  found: (q, n) => `${n} ${n === 1 ? "person" : "people"} found.`,
};

function paint() {
  if (!pickerEl || !picker) return;
  const input = pickerEl.querySelector("input");
  const list = pickerEl.querySelector("ul");
  list.replaceChildren(...picker.results.map((person, index) => h("li", {
    role: "option", id: `hc-people-${index}`, class: "hc-option", "data-index": String(index),
    "aria-selected": String(index === picker.active),
  }, personChip(person.accountId), person.accountId === me ? " (you)" : null)));
  list.hidden = !picker.results.length;
  input.setAttribute("aria-expanded", String(!list.hidden));
  if (picker.results.length) input.setAttribute("aria-activedescendant", `hc-people-${picker.active}`);
  else input.removeAttribute("aria-activedescendant");
  const status = picker.status || (picker.results.length && picker.query.trim() ? "found" : "");
  pickerEl.querySelector(".hc-picker-status").textContent =
    STATUS_TEXT[status](picker.query.trim(), picker.results.length);
}

function search() {
  clearTimeout(searchTimer);
  const query = picker.query.trim();
  const ticket = ++searchTicket;
  if (!query || !directory.canSearch()) {
    Object.assign(picker, { results: query ? [] : suggestions(), active: 0, status: "" });
    paint();
    return;
  }
  picker.status = "searching";
  paint();
  searchTimer = setTimeout(async () => {
    let results = [];
    let status = "found";
    try {
      results = await directory.search(query);
      if (!results.length) status = "none";
    } catch (err) {
      status = "error";
    }
    if (!picker || ticket !== searchTicket) return; // a later keystroke (or closing) made this answer stale
    Object.assign(picker, { results, active: 0, status });
    paint();
  }, SEARCH_DELAY_MS);
}

// --- "only my items" -------------------------------------------------------------------------------------------
// Items added while the filter is on (nobody's yet): shown until it is switched, not gone as if never added.
const addedInView = new Set();
export function keepInView(itemId) {
  if (mineOnly) addedInView.add(itemId);
}

// The rows to draw: every row, or with the filter on, the current user's items under the headers they sit below.
export function visibleItems(items) {
  if (!mineOnly || !me) return items;
  const shown = [];
  let header = null;
  for (const item of items) {
    if (item.isHeader) header = item;
    else if (item.assigneeAccountId === me || addedInView.has(item.id)) {
      if (header) shown.push(header);
      header = null;
      shown.push(item);
    }
  }
  return shown;
}

// The filter switch (a toggle button) and what it hides, said in words.
export function mineFilter(items) {
  if (!me || !items.some((item) => !item.isHeader)) return null;
  const total = items.filter((item) => !item.isHeader).length;
  const mine = items.filter((item) => !item.isHeader && item.assigneeAccountId === me).length;
  const added = items.filter((item) => !item.isHeader && item.assigneeAccountId !== me && addedInView.has(item.id))
    .length;
  const button = h("button", { type: "button", class: "hc-mine", "data-focus": "mine", "aria-pressed": String(mineOnly),
    onclick: () => { mineOnly = !mineOnly; addedInView.clear(); render(); } }, "Only my items");
  const note = !mine && !added ? "No items are assigned to you."
    : `Showing ${mine + added} of ${total} items: those assigned to you` +
      (added ? ` and ${added === 1 ? "one" : added} you just added.` : ".");
  return h("div", { class: "hc-filterbar" }, button, mineOnly ? h("span", { class: "hc-filter-note" }, note) : null);
}

// For history.js: the name Jira gives an accountId, or null while unknown (not looked up yet, or no such account);
// the lookup goes through the same page cache as the chips, so each person is asked for once.
export function personName(accountId) {
  const person = directory.get(accountId);
  return person ? person.name : null;
}

export function resolveAccounts(ids) {
  return directory.resolve(ids);
}
