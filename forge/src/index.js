// Forge Custom UI entry: the same panel as /connect/panel, talking to the Django backend through requestRemote.
import { requestRemote, view } from "@forge/bridge";
import { createTransport } from "../../static/herochecklist/transport.js";
import { forgeSend } from "../../static/herochecklist/forge-transport.js";
import { startPanel } from "../../static/herochecklist/panel.js";

async function main() {
  if (view.theme && typeof view.theme.enable === "function") await view.theme.enable(); // Jira's light/dark tokens
  const context = await view.getContext();
  startPanel({
    // The token argument is a placeholder: forgeSend drops our Authorization, Forge sends the FIT instead.
    api: createTransport({ apiBase: "/api/v1", token: "forge", send: forgeSend(requestRemote) }),
    issueId: context.extension.issue.id,
  });
}

main();
