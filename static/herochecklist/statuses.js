// The statuses an item can have, as the panel shows them: the five built in (the API contract's), each with its
// label, the Jira lozenge appearance it is drawn with (lozenge.css names: default, inprogress, success, moved,
// removed, new) and whether it counts as complete. The status menu and the lozenges render from this list, so a
// status the site defines (supplied by the server) is added here once and appears everywhere.

const BUILT_IN = [
  { key: "todo", label: "To do", appearance: "default", done: false },
  { key: "in_progress", label: "In progress", appearance: "inprogress", done: false },
  { key: "done", label: "Done", appearance: "success", done: true },
  { key: "skipped", label: "Skipped", appearance: "moved", done: true },
  { key: "blocked", label: "Blocked", appearance: "removed", done: false },
];
const APPEARANCES = new Set(["default", "inprogress", "success", "moved", "removed", "new"]);

let statuses = BUILT_IN.slice();

// Adds statuses defined by the site, after the built-in ones: [{key, label, appearance, done}]. An unknown
// appearance is drawn as "default"; a key already known is left as it is (the built-in five cannot be redefined).
export function defineStatuses(extra) {
  const known = new Set(BUILT_IN.map((s) => s.key));
  statuses = BUILT_IN.concat((extra || []).filter((s) => s && s.key && !known.has(s.key) && known.add(s.key)).map(
    (s) => ({ key: s.key, label: s.label || s.key, done: s.done === true,
              appearance: APPEARANCES.has(s.appearance) ? s.appearance : "default" })));
}

export function allStatuses() {
  return statuses;
}

// A status the panel does not know (a newer server) is still shown, by its key, as not done.
export function statusOf(key) {
  return statuses.find((s) => s.key === key) || { key, label: key, appearance: "default", done: false };
}

export function isDone(key) {
  return statusOf(key).done;
}
