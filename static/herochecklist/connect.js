// The panel on our Connect page inside Jira: the panel token from the page, and AP (all.js) for fresh context
// tokens and for resizing the iframe.
import { createTransport } from "./transport.js";
import { startPanel } from "./panel.js";
import { apJira } from "./people.js";
import { beaconSend, createTimingReporter } from "./timing.js";

const config = JSON.parse(document.getElementById("herochecklist-config").textContent);
const token = document.querySelector('meta[name="herochecklist-token"]').content;
const AP = window.AP;
// Jira's theme (light or dark, as the user chose in Jira): all.js sets data-color-mode on <html> and Jira's design
// tokens, and follows later changes; panel.css reads them.
if (AP && AP.theming && typeof AP.theming.initializeTheming === "function") AP.theming.initializeTheming();

// timingUrl is absent when the site switched timing reports off.
const timing = config.timingUrl
  ? createTimingReporter({ send: beaconSend(config.timingUrl, () => api.credential()) })
  : null;
const api = createTransport({ apiBase: config.apiBase, token, host: AP, onTiming: timing && timing.call });

startPanel({
  api,
  issueId: config.issueId,
  jira: apJira(AP), // user search and names, through the Jira page as the signed-in user
  accountId: config.accountId,
  serviceDesk: config.serviceDesk, // absent when Jira did not say
  resize: (height) => {
    if (AP && typeof AP.resize === "function") AP.resize("100%", String(height));
  },
});
