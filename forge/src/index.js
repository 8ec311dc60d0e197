// Forge Custom UI entry: the same panel as /connect/panel, talking to the Django backend through requestRemote.
import { requestJira, requestRemote, view } from "@forge/bridge";
import { createTransport } from "../../static/herochecklist/transport.js";
import { forgeJira, forgeSend, forgeTimingSend } from "../../static/herochecklist/forge-transport.js";
import { startPanel } from "../../static/herochecklist/panel.js";
import { createTimingReporter } from "../../static/herochecklist/timing.js";

async function main() {
  if (view.theme && typeof view.theme.enable === "function") await view.theme.enable(); // Jira's light/dark tokens
  const context = await view.getContext();
  // Timing reports as on Connect; for a site that switched them off the backend keeps nothing (204).
  const timing = createTimingReporter({ send: forgeTimingSend(requestRemote) });
  startPanel({
    // The token argument is a placeholder: forgeSend drops our Authorization, Forge sends the FIT instead.
    api: createTransport({ apiBase: "/api/v1", token: "forge", send: forgeSend(requestRemote), onTiming: timing.call }),
    issueId: context.extension.issue.id,
    jira: forgeJira(requestJira), // user search and names, as the current user
    accountId: context.accountId,
    // The issue panel's context names the project's type ("service_desk" for Jira Service Management). NC: read
    // from Forge's context documentation, not yet seen on a live site; absent, the toggle is offered as before.
    serviceDesk: context.extension.project?.type ? context.extension.project.type === "service_desk" : undefined,
  });
}

main();
