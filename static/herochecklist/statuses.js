// The statuses an item may have: the five built in, then the ones the site defined (name, colour, whether they count
// as done), which the checklist GET carries in `statuses`. The panel's status menu and progress read this list.

export const builtinStatuses = [
  { key: "todo", name: "To do", color: null, countsAsDone: false, builtin: true },
  { key: "in_progress", name: "In progress", color: null, countsAsDone: false, builtin: true },
  { key: "done", name: "Done", color: null, countsAsDone: true, builtin: true },
  { key: "skipped", name: "Skipped", color: null, countsAsDone: true, builtin: true },
  { key: "blocked", name: "Blocked", color: null, countsAsDone: false, builtin: true },
];

// data: the checklist JSON (or anything with `statuses`: the site's own).
export function statusList(data) {
  const own = (data && Array.isArray(data.statuses) ? data.statuses : []).map((s) => ({ ...s, builtin: false }));
  return builtinStatuses.concat(own);
}

export function completeKeys(list) {
  return new Set(list.filter((s) => s.countsAsDone).map((s) => s.key));
}
