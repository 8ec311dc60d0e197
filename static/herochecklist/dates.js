// Due dates, the way Jira shows them: the date in the user's own format, and "Overdue" / "Due today" written out
// (never colour alone), judged by the user's own calendar day (a UTC day would call a date overdue hours early or
// late). Picking a date uses the browser's native date input.

import { h, plain } from "./dom.js";

let render = () => {};
let editing = null; // { itemId, draft }: the due date being edited, kept across re-renders

export function setupDates({ rerender }) {
  render = rerender;
}

// Today as YYYY-MM-DD on the user's clock.
export function localToday(now = new Date()) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

// "overdue", "today", "later", or "" when there is no date or the item is complete (finished work is never late).
export function dueState(dueDate, complete, today = localToday()) {
  if (!dueDate || complete) return "";
  if (dueDate < today) return "overdue";
  return dueDate === today ? "today" : "later";
}

// A date as the row shows it ("Jan 5, 2020" in English); history.js words its due dates and older times with it.
export const dateWords = (date) => date.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });

export function spoken(iso) { // YYYY-MM-DD, a day on the user's calendar
  const [year, month, day] = iso.split("-").map(Number);
  return dateWords(new Date(year, month - 1, day));
}

function dueLabel(dueDate, state) {
  const date = h("time", { datetime: dueDate }, spoken(dueDate));
  if (state === "overdue") return ["Overdue: ", date];
  if (state === "today") return [h("time", { datetime: dueDate }, "Due today")];
  return ["Due ", date];
}

// The due date as a read-only row shows it.
export function dueChip(item, complete) {
  if (!item.dueDate) return null;
  const state = dueState(item.dueDate, complete);
  return h("span", { class: `hc-chip hc-due hc-due-${state || "none"}` }, dueLabel(item.dueDate, state));
}

// The due date of an editable row: a chip that opens the date input. save("YYYY-MM-DD" or null) saves.
export function dueControl(item, complete, save) {
  if (editing && editing.itemId === item.id) return renderEditor(item, save);
  const state = dueState(item.dueDate, complete);
  const label = item.dueDate ? dueLabel(item.dueDate, state) : ["Due date"];
  const button = h("button", {
    type: "button", class: `hc-chip hc-due hc-due-${state || "none"}` + (item.dueDate ? "" : " hc-unset"),
    "data-due-for": item.id, "data-focus": `${item.id}:due`, onclick: () => openEditor(item),
    // The item's text in the name only, never in a text node: a search of the panel for it finds the item alone.
    "aria-label": `${label.map((part) => (typeof part === "string" ? part : part.textContent)).join("")} for ${
      plain(item)}` + (item.dueDate ? ". Change" : ""),
  }, label);
  return button;
}

function focusDue(itemId) {
  document.querySelector(`[data-due-for="${CSS.escape(itemId)}"]`)?.focus();
}

function openEditor(item) {
  editing = { itemId: item.id, draft: item.dueDate || "" };
  render();
  document.querySelector(`[data-date-for="${CSS.escape(item.id)}"]`)?.focus();
}

// Enter or Save saves, Escape cancels, Clear removes the date; leaving the editor saves a valid changed date.
function renderEditor(item, save) {
  let done = false;
  const finish = async (value) => {
    if (done) return;
    done = true;
    editing = null;
    if (value == null || value === (item.dueDate || "")) render();
    else await save(value || null);
    focusDue(item.id);
  };
  const input = h("input", { type: "date", class: "hc-date", "aria-label": `Due date of ${plain(item)}`,
    "data-date-for": item.id, "data-focus": `${item.id}:due-date` });
  input.value = editing.draft;
  input.addEventListener("input", () => (editing.draft = input.value));
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      if (input.validity.valid) finish(input.value);
    } else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      finish(null);
    }
  });
  const keepInput = (e) => e.preventDefault(); // a click on Save/Clear leaves the focus in the date input
  const editor = h("span", { class: "hc-due-editor", role: "group", "aria-label": `Due date of ${plain(item)}` },
    input,
    h("button", { type: "button", class: "hc-primary", onmousedown: keepInput,
      onclick: () => input.validity.valid && finish(input.value) }, "Save"),
    item.dueDate ? h("button", { type: "button", onmousedown: keepInput, onclick: () => finish("") }, "Clear") : null);
  editor.addEventListener("focusout", () => setTimeout(() => {
    if (!done && editor.isConnected && !editor.contains(document.activeElement)) {
      finish(input.validity.valid ? input.value : null);
    }
  }, 0));
  return editor;
}
