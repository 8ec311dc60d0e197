// The panel on our Connect page inside Jira: the panel token from the page, and AP (all.js) for fresh context
// tokens and for resizing the iframe.
import { createTransport } from "./transport.js";
import { startPanel } from "./panel.js";

const config = JSON.parse(document.getElementById("herochecklist-config").textContent);
const token = document.querySelector('meta[name="herochecklist-token"]').content;
const AP = window.AP;

startPanel({
  api: createTransport({ apiBase: config.apiBase, token, host: AP }),
  issueId: config.issueId,
  resize: (height) => {
    if (AP && typeof AP.resize === "function") AP.resize("100%", String(height));
  },
});
