// A team editing at once (issue #17): per-item preconditions, the conflict view, and live updates.
// - A write of one item sends that item's ETag (If-Match "item-<id>-<version>"), so edits of different items never
//   conflict; a 412 carries the item as stored now, and the panel shows theirs beside the user's own, kept.
// - While the panel is visible it polls the checklist once a second with If-None-Match (304 while nothing changed;
//   chosen over server-sent events by measurement, see bench/RESULTS.md); panel.js renders a change as any other,
//   which keeps the user's focus, caret and open editor.
import { spoken } from "./dates.js";
import { plain } from "./dom.js";

export const POLL_MS = 1000;
const MAX_BACKOFF_MS = 15000;

// The If-Match value of one item; the transport quotes it.
export const itemTag = (item) => `item-${item.id}-${item.version}`;

// A write conditional on one item answers the checklist version after it, which may have skipped changes this panel
// has not seen: take it only when it is the very next one, else fetch now (a whole-list write must not be based on
// a version whose changes we never showed).
export function adoptVersion(state, version, refreshNow) {
  if (version == null) return;
  if (version === state.version + 1) state.version = version;
  else if (version > state.version) refreshNow();
}

// A write's answer can arrive after a poll that already brought its result: the same item must not show twice.
export function uniqueItems(items) {
  const latest = new Map(items.map((item) => [item.id, item]));
  return [...latest.keys()].map((id) => latest.get(id));
}

// Polls `path` while the page is visible; onChange(checklist) gets each new version. current() is the version the
// panel shows. Returns { now() } to poll at once (after a write skipped a version).
export function startLive({ api, path, current, onChange }) {
  let timer = null;
  let inFlight = false;
  let delay = POLL_MS;

  const visible = () => document.visibilityState === "visible";
  function schedule(ms = delay) {
    clearTimeout(timer);
    timer = visible() ? setTimeout(poll, ms) : null;
  }
  async function poll() {
    if (inFlight || !visible()) return;
    inFlight = true;
    try {
      // Always the version shown: a change the panel held back (text mode) keeps coming until it is applied.
      const { data } = await api.request("GET", path, null, { ifNoneMatch: current(), full: true, untimed: true });
      // A poll answered after one of our own writes may be older than what the panel shows: drop it.
      if (data && Array.isArray(data.items) && data.version > current()) onChange(data);
      delay = POLL_MS;
    } catch (err) {
      // Offline, rate limited (304s have their own budget, see checklists/live.py; a poll answered in full is a read
      // and spends the shared one too) or a server fault: ask less often.
      delay = Math.min(delay * 2, MAX_BACKOFF_MS);
    } finally {
      inFlight = false;
      schedule();
    }
  }
  document.addEventListener("visibilitychange", () => (visible() ? schedule(0) : clearTimeout(timer)));
  schedule();
  return { now: () => schedule(0) };
}

// --- the conflict of one item -----------------------------------------------------------------------------------

// A 412 on a write of `item`: keep what the user wanted (`fields`; null for a delete) and show it beside the item
// as stored now (null: deleted). One shown stays (a second replacing it hid the first change lost): the same item's
// joins it ("Save mine" saves both), another item's waits in `next`.
export function noteItemConflict(state, item, fields, currentItem) {
  if (currentItem) state.items = state.items.map((i) => (i.id === currentItem.id ? currentItem : i));
  else state.items = state.items.filter((i) => i.id !== item.id);
  const shown = state.itemConflict;
  const all = shown ? [shown, ...shown.next] : [];
  // The same item's, both edits or both deletes (an edit and a delete are two choices, each shown).
  const same = all.find((c) => c.item.id === item.id && !c.fields === !fields);
  if (fields === null && !currentItem) {
    // Deleting what someone else deleted is no conflict, and drops the item's (the user let it go).
    showFirst(state, all.filter((c) => c.item.id !== item.id));
  } else if (same) Object.assign(same, { fields: fields && { ...same.fields, ...fields }, theirs: currentItem });
  else if (shown) shown.next.push({ item, fields, theirs: currentItem });
  else showFirst(state, [{ item, fields, theirs: currentItem }]);
}

const showFirst = (state, list) => (state.itemConflict = list.length ? { ...list[0], next: list.slice(1) } : null);

// The conflict shown is settled (saved, added again, kept theirs): the next one waiting is shown.
export const settleConflict = (state) => showFirst(state, state.itemConflict ? state.itemConflict.next : []);

const ITEM_FIELDS = ["text", "status", "isHeader", "mandatory", "assigneeAccountId", "dueDate"];
const itemFields = (item) => Object.fromEntries(ITEM_FIELDS.filter((k) => item[k] != null).map((k) => [k, item[k]]));

// Your other changes in words, as the row shows them: it said "dueDate: 2026-12-24", "visibleToCustomer: true".
const SAID = {
  status: (v, statusLabel) => statusLabel(v),
  dueDate: (v) => (v ? `due ${spoken(v)}` : "no due date"),
  mandatory: (v) => (v ? "required" : "optional"),
  visibleToCustomer: (v) => (v ? "shown to customers" : "hidden from customers"),
  assigneeAccountId: (v) => (v ? "assigned" : "unassigned"),
};

function describeItem(h, item, statusLabel) {
  if (!item) return h("span", { class: "hc-theirs" }, "deleted");
  return h("span", { class: "hc-theirs" }, h("bdi", {}, item.text), " · ", statusLabel(item.status));
}

// The banner for state.itemConflict. actions: { save(conflict, fields), add(conflict, fields), remove(conflict),
// dismiss() }.
export function renderItemConflict(h, state, statusLabel, actions) {
  const conflict = state.itemConflict;
  const { item, fields, theirs, next } = conflict;
  const notSaved = next.length ? h("p", {}, `Also not saved yet, as someone else changed ${next.length > 1 ? "them"
    : "it"} too: ${next.map((c) => `“${plain(c.item)}”`).join(", ")}. Shown after this one.`) : null;
  if (fields === null) {
    return h("div", { class: "hc-banner hc-warning hc-conflict", role: "alert" },
      h("p", {}, `Someone else changed “${plain(item)}” before you deleted it.`),
      h("p", { class: "hc-version" }, h("strong", {}, "Theirs: "), describeItem(h, theirs, statusLabel)), notSaved,
      h("div", { class: "hc-row" },
        h("button", { type: "button", onclick: () => actions.remove(conflict) }, "Delete it anyway"),
        h("button", { type: "button", class: "hc-primary", onclick: actions.dismiss }, "Keep it")));
  }
  const yours = { ...item, ...fields };
  const text = "text" in fields
    // The item editor's focus key: a user typing in the editor when the conflict came goes on typing here, caret
    // and all (focus.js), rather than landing on another row.
    ? h("input", { type: "text", class: "hc-yours-text", dir: "auto", value: yours.text,
                   "aria-label": "Your text", "data-focus": `${item.id}:edit` })
    : null;
  if (text) text.value = yours.text;
  const mine = () => (text ? { ...fields, text: text.value.trim() || yours.text } : fields);
  const changed = Object.keys(fields).filter((k) => k !== "text")
    .map((k) => (SAID[k] ? SAID[k](fields[k], statusLabel) : `${k}: ${fields[k]}`));
  return h("div", { class: "hc-banner hc-warning hc-conflict", role: "alert" },
    h("p", {}, theirs ? `Someone else changed “${plain(item)}” while you were editing it.`
      : `Someone else deleted “${plain(item)}” while you were editing it.`),
    h("p", { class: "hc-version" }, h("strong", {}, "Theirs: "), describeItem(h, theirs, statusLabel)),
    h("p", { class: "hc-version" }, h("strong", {}, "Yours: "), text || yours.text,
      changed.length ? ` (${changed.join(", ")})` : null), notSaved,
    h("div", { class: "hc-row" },
      h("button", { type: "button", class: "hc-primary",
        onclick: () => (theirs ? actions.save(conflict, mine())
          : actions.add(conflict, itemFields({ ...yours, ...mine() }))) },
      theirs ? "Save mine" : "Add mine again"),
      h("button", { type: "button", onclick: actions.dismiss }, "Keep theirs")));
}
