// Keeps keyboard focus across the panel's re-renders (each render replaces the DOM). Every focusable control
// carries data-focus="<item id>:<control>" (or a name of its own, like "add"); after a render the control with the
// same key gets focus back, with its caret, so a tick, a status change or an edit leaves the user where they were.
// When the item is gone (deleted, or moved away by someone else) its neighbour, now at the same place, gets focus.
// A control that goes away with what it did (text mode's Save and Cancel, a banner's button) hands focus to the key
// its container names in data-focus-return, else to the add box, else to the panel's first control: focus that
// fell to the page's body would send a keyboard or screen reader user back to the top of Jira.

const ROWS = ".hc-item[data-id]";

export function captureFocus(root) {
  const active = document.activeElement;
  // Only while the panel has focus: a render caused by someone else (a live update) must not pull focus into the
  // iframe from wherever the user is in Jira.
  if (!document.hasFocus() || !active || active === document.body || !root.contains(active)) return null;
  const row = active.closest(ROWS);
  const saved = {
    key: active.closest("[data-focus]")?.dataset.focus || null,
    index: row ? [...root.querySelectorAll(ROWS)].indexOf(row) : -1,
    back: active.closest("[data-focus-return]")?.dataset.focusReturn || null,
    selection: null,
  };
  if (typeof active.selectionStart === "number" && active.dataset.focus === saved.key) {
    saved.selection = [active.selectionStart, active.selectionEnd];
  }
  return saved;
}

// preferId: an item that should get focus instead (one just restored by undo), when it is on the page.
export function restoreFocus(root, saved, preferId) {
  const preferred = preferId ? root.querySelector(`[data-id="${CSS.escape(preferId)}"] [data-focus]`) : null;
  if (preferred) return preferred.focus();
  if (!saved) return;
  const active = document.activeElement;
  if (active && active !== document.body && root.contains(active)) return; // focus already placed on purpose
  let target = saved.key ? root.querySelector(`[data-focus="${CSS.escape(saved.key)}"]`) : null;
  if (!target && saved.index >= 0) {
    const rows = root.querySelectorAll(ROWS);
    const row = rows[Math.min(saved.index, rows.length - 1)];
    target = row ? row.querySelector("[data-focus]") : null;
  }
  const byKey = (key) => (key ? root.querySelector(`[data-focus="${CSS.escape(key)}"]`) : null);
  target = target || byKey(saved.back) || byKey("add") || root.querySelector("[data-focus]");
  if (!target) return;
  target.focus();
  if (saved.selection && target.dataset.focus === saved.key && typeof target.setSelectionRange === "function") {
    target.setSelectionRange(...saved.selection);
  }
}
