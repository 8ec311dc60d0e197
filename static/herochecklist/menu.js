// A menu button (the WAI-ARIA "menu button" pattern): a button that opens a menu of choices. Enter, Space or
// Down opens it on the current choice (Up on the last); Up/Down/Home/End and a letter only move within it; Enter,
// Space or a click commits; Escape closes it without a change; Tab closes it and moves on. Nothing is committed by
// moving, unlike a <select>, whose arrow keys commit at once.

let closeOpen = null; // the close function of the one open menu, if any

// A menu lives in the DOM only (not in the panel's state): a render would take it away mid-choice.
export const menuIsOpen = () => closeOpen !== null;

export function menuButton({ label, content, options, value, onSelect, className = "", focusKey, onToggle }) {
  const wrap = document.createElement("span");
  wrap.className = "hc-menu-wrap";
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.setAttribute("aria-haspopup", "menu");
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-label", label);
  if (focusKey) button.dataset.focus = focusKey;
  button.append(...[].concat(content));
  wrap.append(button);
  let menu = null;

  function close(refocus) {
    if (!menu) return;
    const gone = menu;
    menu = null; // first: removing the focused item may fire focusout, which calls close again
    gone.remove();
    button.setAttribute("aria-expanded", "false");
    if (closeOpen === close) closeOpen = null;
    if (refocus) button.focus();
    if (onToggle) onToggle();
  }

  function choose(chosen) {
    close(true);
    if (chosen !== value) onSelect(chosen);
  }

  function open(last) {
    if (closeOpen) closeOpen(false);
    menu = document.createElement("ul");
    menu.className = "hc-menu";
    menu.setAttribute("role", "menu");
    menu.setAttribute("aria-label", label);
    for (const option of options) {
      const item = document.createElement("li");
      item.setAttribute("role", "menuitemradio");
      item.setAttribute("aria-checked", String(option.value === value));
      item.tabIndex = -1;
      item.dataset.value = option.value;
      item.append(...[].concat(option.content));
      item.addEventListener("click", () => choose(option.value));
      menu.append(item);
    }
    menu.addEventListener("keydown", onMenuKey);
    menu.addEventListener("focusout", (e) => { if (!wrap.contains(e.relatedTarget)) close(false); });
    wrap.append(menu);
    button.setAttribute("aria-expanded", "true");
    closeOpen = close;
    const items = [...menu.children];
    const current = options.findIndex((o) => o.value === value);
    items[last ? items.length - 1 : Math.max(0, current)].focus();
    if (onToggle) onToggle();
  }

  function onMenuKey(e) {
    const items = [...menu.children];
    const at = items.indexOf(document.activeElement);
    const go = (index) => {
      e.preventDefault();
      items[(index + items.length) % items.length].focus();
    };
    if (e.key === "ArrowDown") return go(at + 1);
    if (e.key === "ArrowUp") return go(at - 1);
    if (e.key === "Home") return go(0);
    if (e.key === "End") return go(items.length - 1);
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      if (at >= 0) choose(items[at].dataset.value);
      return;
    }
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      return close(true);
    }
    if (e.key === "Tab") return close(true); // focus back on the button; the browser's Tab then moves on from it
    if (e.key.length === 1 && /\S/.test(e.key)) {
      const letter = e.key.toLowerCase();
      const order = items.slice(at + 1).concat(items.slice(0, at + 1));
      const next = order.find((item) => item.textContent.trim().toLowerCase().startsWith(letter));
      if (next) go(items.indexOf(next));
    }
  }

  button.addEventListener("click", () => (menu ? close(true) : open(false)));
  button.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      open(e.key === "ArrowUp");
    }
  });
  return wrap;
}
