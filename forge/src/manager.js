// Forge Custom UI entry of the template manager (jira:projectSettingsPage and jira:adminPage): the same manager as
// our Connect page, talking to the Django backend through requestRemote. The project comes from Forge's context.
import { requestRemote, view } from "@forge/bridge";
import { createTransport } from "../../static/herochecklist/transport.js";
import { forgeSend } from "../../static/herochecklist/forge-transport.js";
import { startManager } from "../../static/herochecklist/manager.js";

async function main() {
  if (view.theme && typeof view.theme.enable === "function") await view.theme.enable();
  const context = await view.getContext();
  const project = (context.extension && context.extension.project) || {};
  startManager({
    api: createTransport({ apiBase: "/api/v1", token: "forge", send: forgeSend(requestRemote) }),
    projectId: project.id ? String(project.id) : "",
  });
}

main();
