// The panel's one DOM helper, shared by panel.js and its feature modules (people.js, dates.js).

// h("button", { class: "x", onclick: fn, "aria-label": "…" }, child, …): attributes, listeners (on…), children
// (nodes or text; null and false are skipped, arrays are flattened).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "html") el.innerHTML = value; // only ever the server's sanitized textHtml
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child != null && child !== false) el.append(child instanceof Node ? child : document.createTextNode(child));
  }
  return el;
}

// A control the panel re-creates on every render keeps the keyboard focus: when `selector` matched the focused
// element before the render, the same control in the new tree gets it back (once the new tree is in the page).
export function keepFocus(container, selector) {
  const active = document.activeElement;
  if (!active || !active.matches || !active.matches(selector)) return;
  const caret = typeof active.selectionStart === "number" ? [active.selectionStart, active.selectionEnd] : null;
  queueMicrotask(() => {
    const target = container.matches(selector) ? container : container.querySelector(selector);
    if (!target || !target.isConnected) return;
    target.focus();
    if (caret) try { target.setSelectionRange(...caret); } catch (err) { /* not a text input */ }
  });
}
