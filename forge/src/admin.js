// Forge Custom UI of the jira:adminPage "Checklist API tokens": the same page as Connect's, through requestRemote
// (the FIT of this module opens /api/v1/site-tokens only; the backend asks Jira whether the user is a Jira admin).
import { requestRemote } from "@forge/bridge";
import { createTransport } from "../../static/herochecklist/transport.js";
import { forgeSend } from "../../static/herochecklist/forge-transport.js";
import { startTokensPage } from "../../static/herochecklist/api-tokens.js";

const api = createTransport({ apiBase: "/api/v1", token: "forge", send: forgeSend(requestRemote) });
startTokensPage(document.getElementById("hc-tokens"), (method, path, body) => api.request(method, path, body));
