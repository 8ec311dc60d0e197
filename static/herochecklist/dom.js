// The panel's one DOM helper, shared by panel.js and its feature modules (people.js, dates.js). Focus across
// re-renders is focus.js's: a control that must keep it carries a data-focus key.

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

// An item as words, for labels and announcements: its rendered text without the Markdown marks (** or `), and at
// most its first 80 characters then "…": it names up to nine controls of its row, each read out whole by a screen
// reader (the row itself shows all of it). Counted in characters, not UTF-16 units, so no emoji is cut in half.
const plainCache = new WeakMap(); // item object -> words (an update brings a new object)
export function plain(item) {
  if (!plainCache.has(item)) {
    const parsed = document.createElement("template");
    parsed.innerHTML = item.textHtml ?? item.text; // a template's content is inert: nothing in it loads or runs
    const chars = [...parsed.content.textContent.trim()];
    plainCache.set(item, chars.length > 80 ? chars.slice(0, 79).join("").trimEnd() + "…" : chars.join(""));
  }
  return plainCache.get(item);
}
