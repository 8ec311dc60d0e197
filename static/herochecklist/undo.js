// The undo offer after a delete: a toast with the item as the list showed it (the server's rendered HTML, not its
// Markdown), an Undo button reachable by Tab, and Ctrl+Z / Cmd+Z anywhere in the panel. The toast stays while the
// pointer or the keyboard focus is on it, so a keyboard user always has time to reach it.

const UNDO_SECONDS = 6;
let pending = null; // { html, run }
let timer = null;
let rerender = () => {};

function arm() {
  clearTimeout(timer);
  timer = setTimeout(() => {
    pending = null;
    rerender();
  }, UNDO_SECONDS * 1000);
}

// Offers to undo: run() puts the item back. render() redraws the panel (the toast appears, later disappears).
export function offerUndo(html, run, render) {
  pending = { html, run };
  rerender = render;
  arm();
}

export function runUndo() {
  if (!pending) return false;
  const { run } = pending;
  pending = null;
  clearTimeout(timer);
  run();
  return true;
}

export function undoToast() {
  if (!pending) return null;
  const text = document.createElement("span");
  text.className = "hc-toast-text";
  text.dir = "auto"; // a right-to-left item keeps its direction inside the English sentence
  text.innerHTML = pending.html; // only ever the server's sanitized textHtml
  const button = document.createElement("button");
  button.type = "button";
  button.className = "hc-link";
  button.dataset.focus = "undo";
  button.setAttribute("aria-keyshortcuts", "Control+Z Meta+Z");
  button.textContent = "Undo";
  button.addEventListener("click", runUndo);
  const toast = document.createElement("div");
  toast.className = "hc-toast";
  toast.setAttribute("role", "status");
  toast.append("Deleted “", text, "”. ", button);
  const hold = () => clearTimeout(timer);
  toast.addEventListener("focusin", hold);
  toast.addEventListener("mouseenter", hold);
  toast.addEventListener("focusout", (e) => { if (!toast.contains(e.relatedTarget)) arm(); });
  toast.addEventListener("mouseleave", arm);
  return toast;
}

// Ctrl+Z / Cmd+Z while focus is in the panel, except in a field with text of its own (that is the field's undo).
export function listenForUndoKey(target) {
  target.addEventListener("keydown", (e) => {
    if (!(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey || e.key.toLowerCase() !== "z") return;
    const field = e.target;
    if (field.tagName === "TEXTAREA" || (field.tagName === "INPUT" && field.value)) return;
    if (runUndo()) e.preventDefault();
  });
}
