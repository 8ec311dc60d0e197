"""
The stand-in Jira's settings pages that embed the template manager, as Jira does with the app's Connect modules:
a project settings tab (`jiraProjectAdminTabPanels`, the DEMO project) and a site admin page (`adminPages`), each
framing /connect/templates with a qsh-signed JWT for the chosen user. Hooked into devhost/jira.py by `page()`.
"""

import html
from urllib.parse import urlencode

from .keys import connect_token

PROJECT_PAGE = "/plugins/servlet/project-config/DEMO/apps/herochecklist-templates"
ADMIN_PAGE = "/plugins/servlet/upm/herochecklist-templates"
PROJECT_ID = "10000"
INDEX_LINKS = (
    f'<h2>Settings</h2><ul><li><a href="{PROJECT_PAGE}">DEMO project settings: Checklist templates</a></li>'
    f'<li><a href="{ADMIN_PAGE}">Jira admin: Checklist templates and statuses</a></li></ul>'
)


def manager_url(server, *, account_id: str, project_id: str = "") -> str:
    query = [("projectId", project_id)] if project_id else []
    token = connect_token(
        secret=server.shared_secret,
        client_key=server.client_key,
        method="GET",
        path="/connect/templates",
        query=query,
        account_id=account_id,
    )
    return f"{server.app_base_url}/connect/templates?{urlencode([*query, ('jwt', token)])}"


def page(server, path: str, query: dict, *, users: dict, default_user: str) -> str | None:
    """The HTML of one of the settings pages, or None when `path` is not one of them."""
    if path not in (PROJECT_PAGE, ADMIN_PAGE):
        return None
    account_id = query.get("as", default_user)
    project_id = PROJECT_ID if path == PROJECT_PAGE else ""
    title = "DEMO project settings: Checklist templates" if project_id else "Jira settings: Checklist templates"
    src = html.escape(manager_url(server, account_id=account_id, project_id=project_id))
    options = "".join(
        f'<option value="{html.escape(a)}"{" selected" if a == account_id else ""}>{html.escape(name)}</option>'
        for a, (name, _) in users.items()
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font:14px system-ui,sans-serif;margin:0;color:#172b4d;background:#f7f8f9}}
header{{background:#fff;border-bottom:1px solid #dcdfe4;padding:12px 24px;display:flex;gap:24px}}
.who{{margin-left:auto}} main{{padding:24px}} iframe{{width:100%;border:0;min-height:300px;background:#fff}}
</style></head>
<body><header><a href="/">Projects</a> / <b>{title}</b>
<form method="get" class="who"><label>Viewing as <select name="as" onchange="this.form.submit()">{options}</select>
</label><noscript><button>Switch</button></noscript></form></header>
<main><iframe id="herochecklist-manager" title="HeroChecklist templates" src="{src}"></iframe></main>
<script>
// Host side of the AP shim (see devhost/jira.py): resizes the frame; a fresh context token is not offered here.
const frame = document.getElementById("herochecklist-manager");
window.addEventListener("message", (event) => {{
  if (event.source !== frame.contentWindow || !event.data || !event.data.herochecklistAP) return;
  const msg = event.data;
  if (msg.type === "resize") frame.style.height = Math.max(300, Math.ceil(msg.height)) + "px";
  if (msg.type === "getToken") frame.contentWindow.postMessage({{herochecklistAP: true, type: "token", id: msg.id,
    token: null}}, "*");
}});
</script></body></html>"""
