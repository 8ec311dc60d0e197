// "Visible to customer": the item is shown (read-only) on the Jira Service Management portal's request page.
// A toggle in each item's actions; the server keeps the flag (visibleToCustomer), text mode writes it as {customer}.
import { plain } from "./dom.js";

const EYE = '<svg viewBox="0 0 16 16" width="1.2em" height="1.2em" aria-hidden="true" fill="currentColor"><path d="M1 8s3-5 7-5 7 5 7 5-3 5-7 5-7-5-7-5z" fill="none" stroke="currentColor" stroke-width="1.5"/><circle cx="8" cy="8" r="2"/></svg>';

export function customerToggle(item, patchItem) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "hc-icon hc-customer" + (item.visibleToCustomer ? " hc-on" : "");
  button.dataset.focus = `${item.id}:customer`; // focus.js puts focus back here after the re-render
  button.setAttribute("aria-pressed", item.visibleToCustomer ? "true" : "false");
  button.setAttribute("aria-label", `Visible to customer: ${plain(item)}`);
  button.title = item.visibleToCustomer ? "Shown on the customer portal (click to hide)" : "Show on the customer portal";
  // Drawn here in the text's colour: the eye emoji (U+1F441, unlike ☑ ✎ ✕ in no common font) drew as an empty box.
  button.innerHTML = EYE;
  button.onclick = () => patchItem(item, (now) => ({ visibleToCustomer: !now.visibleToCustomer }),
    (now) => (now.visibleToCustomer ? "Hidden from customers" : "Visible to customers"));
  return button;
}
