// The panel's History section: the checklist's changes, newest first, from GET …/checklist/history, each as who (the
// name Jira gives the accountId, people.js), what (a short sentence) and when (relative, the full time in a tooltip).
// The API pages by `limit` alone (newest first, at most 500), so "Show more" asks again for a longer page. Item text
// comes from the history records as typed, without its Markdown marks (unmarked), and only ever goes into text nodes.
// describeChange and relativeTime are DOM-free (forge/test/history.test.mjs); createHistory draws the section.

import { dateWords, spoken } from "./dates.js";
import { h } from "./dom.js";

export const PAGE = 20; // changes shown at first, and added by each "Show more"
const MAX = 500; // the API's largest page (README: history page)

const SOURCES = { text: " (text mode)", template: " (template)", status: " (status change)" };

// An item's words without the Markdown marks the panel renders (links, bold, strikethrough, code, * italics), as its
// rows show them: history quoted "Write **notes**" and "[docs](https://…)". `_` is left alone (snake_case).
export const unmarked = (text) => text
  .replace(/!?\[([^\]]*)\]\([^)\s]*\)/g, "$1")
  .replace(/(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\1/g, "$2")
  .replace(/`([^`]+)`/g, "$1")
  .replace(/(^|[\s(])\*(?=\S)([^*]+?)(?<=\S)\*(?=$|[\s).,!?:;])/g, "$1$2");
const quoted = (text) => `“${unmarked(text)}”`;

// Who made a change, in words. "app" is our own automation (workflow rules, templates applied on create); a site API
// token's writes are "app:token:<prefix>" (README: Site API tokens). Anyone else is a Jira accountId.
export function actorName(accountId, nameOf) {
  if (!accountId) return "Someone";
  if (accountId === "app") return "HeroChecklist";
  if (accountId.startsWith("app:token:")) return "An API token";
  return nameOf(accountId) || "Someone";
}

// The last text each item had, by id, for sentences about an item the record does not name (a status change records
// the status only): the items on the page first, then what the history itself says (newest record first).
export function itemNames(items, changes) {
  const names = new Map(items.map((item) => [item.id, item.text]));
  for (const change of changes) {
    if (!change.itemId || names.has(change.itemId)) continue;
    const c = change.changes || {};
    const text = (c.after && c.after.text) ?? (c.before && c.before.text) ?? (c.text && c.text.after);
    if (typeof text === "string") names.set(change.itemId, text);
  }
  return names;
}

// One change record as a sentence that follows the actor's name ("added “Deploy”"). statusName(key) names a status;
// nameOf(accountId) a person (or null); names is itemNames().
export function describeChange(change, { names = new Map(), statusName = (s) => s, nameOf = () => null } = {}) {
  const c = change.changes || {};
  const item = quoted(names.get(change.itemId) ?? "an item");
  const source = SOURCES[change.source] || "";
  switch (change.action) {
    case "item_added": {
      const after = c.after || {};
      return `added ${after.is_header ? "the header " : ""}${quoted(after.text ?? "an item")}${source}`;
    }
    case "item_deleted": {
      const before = c.before || {};
      return `removed ${before.is_header ? "the header " : ""}${quoted(before.text ?? "an item")}${source}`;
    }
    case "item_updated": {
      const parts = Object.entries(c).map(([field, diff]) => fieldSentence(field, diff || {}, item,
        { statusName, nameOf }));
      return (parts.length ? parts.join("; ") : `changed ${item}`) + source;
    }
    case "reordered":
      if (change.itemId && c.position && Number.isInteger(c.position.after)) {
        return `moved ${item} to position ${c.position.after + 1}${source}`;
      }
      return `reordered the checklist${source}`;
    case "template_applied": {
      const mode = c.mode && c.mode.after;
      return mode === "replace" ? "replaced the checklist with a template" : "added a template's items";
    }
    default:
      return `changed the checklist${source}`;
  }
}

function fieldSentence(field, { before, after }, item, { statusName, nameOf }) {
  const person = (id) => nameOf(id) || "someone";
  switch (field) {
    case "text":
      return `renamed ${quoted(before ?? "")} to ${quoted(after ?? "")}`;
    case "status":
      return `changed ${item} from ${statusName(before)} to ${statusName(after)}`;
    case "assignee_account_id":
      if (!after) return `unassigned ${item}` + (before ? ` from ${person(before)}` : "");
      return `assigned ${item} to ${person(after)}` + (before ? ` (was ${person(before)})` : "");
    case "due_date": // recorded as YYYY-MM-DD; shown as the row shows it (dates.js), not "2020-01-05"
      if (!after) return `removed the due date of ${item}` + (before ? ` (was ${spoken(before)})` : "");
      return `set the due date of ${item} to ${spoken(after)}` + (before ? ` (was ${spoken(before)})` : "");
    case "mandatory":
      return `made ${item} ${after ? "required" : "optional"}`;
    case "is_header":
      return `turned ${item} into ${after ? "a header" : "an item"}`;
    case "customer_visible":
      return after ? `showed ${item} to customers` : `hid ${item} from customers`;
    default:
      return `changed ${item}`;
  }
}

// "just now", "5 minutes ago", "3 hours ago", "2 days ago", then the date as the rows write dates (it was "9/1/2026"
// beside "Sep 1, 2026"): what the list shows; the tooltip has the full time.
export function relativeTime(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "";
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  const ago = (n, unit) => `${n} ${unit}${n === 1 ? "" : "s"} ago`;
  if (seconds < 60) return "just now";
  if (seconds < 3600) return ago(Math.floor(seconds / 60), "minute");
  if (seconds < 86400) return ago(Math.floor(seconds / 3600), "hour");
  if (seconds < 86400 * 30) return ago(Math.floor(seconds / 86400), "day");
  return dateWords(new Date(then));
}

// The section. host: { api, path (the checklist's API path), version() (the version shown), items() (the items
// shown), statusName, nameOf, resolve(ids) (people.js), describe(err) (panel.js), rerender }.
export function createHistory(host) {
  const view = { open: false, loading: false, error: null, changes: [], more: false, limit: PAGE, version: null,
                 focus: null };

  async function fetchPage() {
    view.loading = true;
    view.error = null;
    const asked = host.version();
    host.rerender();
    try {
      // One more than shown: whether there is more to show, without a count the API does not give.
      const changes = await host.api.request("GET", `${host.path}/history?limit=${Math.min(view.limit + 1, MAX)}`);
      view.more = changes.length > view.limit;
      view.changes = changes.slice(0, view.limit);
      view.version = asked;
      host.resolve(view.changes.flatMap((c) => [c.actorAccountId,
        c.changes && c.changes.assignee_account_id && c.changes.assignee_account_id.before,
        c.changes && c.changes.assignee_account_id && c.changes.assignee_account_id.after])
        .filter((id) => id && id !== "app" && !id.startsWith("app:")))
        .then(() => view.open && host.rerender());
    } catch (err) {
      view.error = host.describe(err, "read");
    }
    view.loading = false;
    host.rerender();
  }

  function toggle() {
    view.open = !view.open;
    view.focus = view.open ? "history" : "history-toggle";
    if (view.open) {
      view.limit = PAGE;
      fetchPage();
    } else host.rerender();
  }

  // After each render: the panel's focus goes where opening or closing the section sends it (once), and a version
  // that moved on while the section is open (someone's change arrived live, or this user's own) is fetched again.
  function afterRender(root) {
    if (view.focus) {
      const target = root.querySelector(`[data-focus="${view.focus}"]`);
      view.focus = null;
      if (target) target.focus();
    }
    if (view.open && !view.loading && !view.error && view.version !== null && view.version !== host.version()) {
      view.loading = true; // once, however many renders come before the microtask
      queueMicrotask(fetchPage); // after this render: fetchPage draws again, and a render must not nest in one
    }
  }

  function toggleButton() {
    return h("button", { type: "button", class: "hc-history-toggle", "data-focus": "history-toggle",
      "aria-expanded": view.open ? "true" : "false", "aria-controls": "hc-history", onclick: toggle }, "History");
  }

  function render() {
    if (!view.open) return null;
    const names = itemNames(host.items(), view.changes);
    const words = { names, statusName: host.statusName, nameOf: host.nameOf };
    let body;
    if (view.error) {
      body = h("p", { class: "hc-banner hc-error", role: "alert" }, view.error, " ",
        h("button", { type: "button", class: "hc-link", "data-focus": "history-retry", onclick: fetchPage }, "Retry"));
    } else if (!view.changes.length && view.loading) {
      body = h("p", { class: "hc-help" }, "Loading history…");
    } else if (!view.changes.length) {
      body = h("p", { class: "hc-empty" }, "No changes yet.");
    } else {
      body = h("ol", { class: "hc-history-list", "aria-label": "Changes, newest first" },
        view.changes.map((change) => h("li", { class: "hc-history-entry" },
          h("span", { class: "hc-history-what", dir: "auto" },
            h("strong", {}, actorName(change.actorAccountId, host.nameOf)), " ", describeChange(change, words)),
          " ",
          h("time", { class: "hc-history-when", datetime: change.createdAt,
            title: new Date(change.createdAt).toLocaleString() }, relativeTime(change.createdAt)))));
    }
    const more = view.more && !view.error ? h("button", { type: "button", class: "hc-link", "data-focus": "history-more",
      disabled: view.loading, onclick: () => { view.limit = Math.min(view.limit + PAGE, MAX); fetchPage(); } },
    "Show more") : null;
    return h("section", { id: "hc-history", class: "hc-history", tabindex: "-1", "data-focus": "history",
      "aria-labelledby": "hc-history-title", "aria-busy": view.loading ? "true" : "false",
      onkeydown: (e) => { if (e.key === "Escape") { e.preventDefault(); toggle(); } } },
    h("h2", { id: "hc-history-title", class: "hc-history-title" }, "History"),
    body, more);
  }

  return { toggle, toggleButton, render, afterRender, isOpen: () => view.open };
}
