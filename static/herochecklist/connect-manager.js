// The template manager on our Connect page inside Jira (project settings tab, site admin page): the page's token, and
// AP (all.js) for fresh context tokens and for resizing the iframe. No build step.
import { createTransport } from "./transport.js";
import { startManager } from "./manager.js";

const config = JSON.parse(document.getElementById("herochecklist-config").textContent);
const token = document.querySelector('meta[name="herochecklist-token"]').content;
const AP = window.AP;

startManager({
  api: createTransport({ apiBase: config.apiBase, token, host: AP }),
  projectId: config.projectId || "",
  resize: (height) => {
    if (AP && typeof AP.resize === "function") AP.resize("100%", String(height));
  },
});
