// "Visible to customer": the item is shown (read-only) on the Jira Service Management portal's request page.
// A toggle in each item's actions; the server keeps the flag (visibleToCustomer), text mode writes it as {customer}.
import { plain } from "./dom.js";

export function customerToggle(item, patchItem) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "hc-icon hc-customer" + (item.visibleToCustomer ? " hc-on" : "");
  button.dataset.focus = `${item.id}:customer`; // focus.js puts focus back here after the re-render
  button.setAttribute("aria-pressed", item.visibleToCustomer ? "true" : "false");
  button.setAttribute("aria-label", `Visible to customer: ${plain(item)}`);
  button.title = item.visibleToCustomer ? "Shown on the customer portal (click to hide)" : "Show on the customer portal";
  button.textContent = "👁";
  button.onclick = () => patchItem(item, (now) => ({ visibleToCustomer: !now.visibleToCustomer }),
    (now) => (now.visibleToCustomer ? "Hidden from customers" : "Visible to customers"));
  return button;
}
