// Forge Custom UI of jiraServiceManagement:portalRequestDetail: the request's checklist items marked visible to
// customers, read-only. The backend finds the request from the FIT's context; the page sends no id of its own.
import { requestRemote } from "@forge/bridge";
import { createTransport } from "../../static/herochecklist/transport.js";
import { forgeSend } from "../../static/herochecklist/forge-transport.js";

const api = createTransport({ apiBase: "/api/v1", token: "forge", send: forgeSend(requestRemote) });
const root = document.getElementById("app");

function row(item) {
  const li = document.createElement("li");
  li.className = `hc-item hc-${item.status}` + (item.isHeader ? " hc-header" : "");
  const text = document.createElement(item.isHeader ? "h3" : "span");
  text.className = "hc-text-cell";
  text.dir = "auto"; // each item in its own direction (static/herochecklist/panel.js)
  text.innerHTML = item.textHtml; // sanitized on the server (checklists/rendering.py), as in the panel
  if (item.isHeader) li.append(text);
  else {
    const label = document.createElement("span");
    label.className = "hc-status-label";
    label.textContent = item.statusName; // the site's name for its own statuses, as on the Connect portal
    li.append(text, label);
  }
  return li;
}

api.request("GET", "/portal/checklist").then((data) => {
  const list = document.createElement("ul");
  list.className = "hc-list";
  list.setAttribute("aria-label", "Checklist");
  list.append(...data.items.map(row));
  root.replaceChildren(data.items.length ? list : "No checklist items are shared on this request.");
}, () => root.replaceChildren("The checklist could not be loaded."));
