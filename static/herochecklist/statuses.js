// The statuses an item can have, as the panel shows them: the five built in (the API contract's), then the ones the
// site defined (name, colour as #rrggbb, whether they count as done), which the checklist GET carries in `statuses`.
// Each built-in one has the Jira lozenge appearance it is drawn with (panel.css: default, inprogress, success,
// moved, removed); a site status is drawn as a default lozenge marked with its colour. The status menu, the
// lozenges and the progress all read this one list.

export const builtinStatuses = [
  { key: "todo", name: "To do", color: null, countsAsDone: false, builtin: true, appearance: "default" },
  { key: "in_progress", name: "In progress", color: null, countsAsDone: false, builtin: true, appearance: "inprogress" },
  { key: "done", name: "Done", color: null, countsAsDone: true, builtin: true, appearance: "success" },
  { key: "skipped", name: "Skipped", color: null, countsAsDone: true, builtin: true, appearance: "moved" },
  { key: "blocked", name: "Blocked", color: null, countsAsDone: false, builtin: true, appearance: "removed" },
];
const COLOR = /^#[0-9a-f]{6}$/i;

// data: the checklist JSON (or anything with `statuses`: the site's own). A key already listed is dropped (the
// built-in five cannot be redefined), and so is a colour that is not #rrggbb.
export function statusList(data) {
  const known = new Set(builtinStatuses.map((s) => s.key));
  const own = (data && Array.isArray(data.statuses) ? data.statuses : [])
    .filter((s) => s && typeof s.key === "string" && !known.has(s.key) && known.add(s.key))
    .map((s) => ({ key: s.key, name: s.name || s.key, countsAsDone: s.countsAsDone === true, builtin: false,
                   color: COLOR.test(s.color || "") ? s.color : null, appearance: "default" }));
  return builtinStatuses.concat(own);
}

export function completeKeys(list) {
  return new Set(list.filter((s) => s.countsAsDone).map((s) => s.key));
}

let statuses = builtinStatuses;

// The site's own statuses, as the checklist GET carries them; the panel then draws and counts with them.
export function defineStatuses(siteStatuses) {
  statuses = statusList({ statuses: siteStatuses });
}

export function allStatuses() {
  return statuses;
}

// A status the panel does not know (one added since the page loaded) is still shown, by its key, as not done.
export function statusOf(key) {
  return statuses.find((s) => s.key === key) || { key, name: key, color: null, countsAsDone: false, builtin: false,
                                                  appearance: "default" };
}

export function isDone(key) {
  return statusOf(key).countsAsDone;
}
