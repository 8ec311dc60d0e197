"""
Pages of the stand-in Jira for the integrations of issue #18: the Jira Service Management customer portal's request
page (our portal panel in an iframe, signed like Jira's), and the app's admin page "API tokens" (as Alice, a Jira
admin, unless `?as=` names someone else), whose iframe gets context tokens without an issue from the host script.
"""

import html
import json
from urllib.parse import urlencode

from .keys import connect_token

PORTAL_PREFIX = "/servicedesk/customer/portal/1/"
ADMIN_PAGE = "/jira/settings/apps/api-tokens"
ADMIN_TOKEN = "/admin-context-token"
HTML = "text/html; charset=utf-8"


def page_answer(server, issues: list[dict], path: str, query: dict, default_user: str) -> tuple[int, bytes, str] | None:
    """(status, body, content type) for the pages of this module, else None."""
    account = query.get("as", default_user)
    if path.startswith(PORTAL_PREFIX):
        issue = next((i for i in issues if i["key"] == path.removeprefix(PORTAL_PREFIX)), None)
        if issue is None:
            return 404, b"no such request", "text/plain"
        return 200, _portal_page(server, issue, account).encode(), HTML
    if path == ADMIN_PAGE:
        return 200, _admin_page(server, account).encode(), HTML
    if path == ADMIN_TOKEN:
        token = connect_token(
            secret=server.shared_secret, client_key=server.client_key, qsh="context-qsh", account_id=account, ttl=900
        )
        return 200, json.dumps({"token": token}).encode(), "application/json"
    return None


def _signed(server, path: str, query: dict, account: str) -> str:
    token = connect_token(
        secret=server.shared_secret,
        client_key=server.client_key,
        method="GET",
        path=path,
        query=list(query.items()),
        account_id=account,
    )
    return f"{server.app_base_url}{path}?{urlencode({**query, 'jwt': token})}"


_STYLE = """<style>body{font:14px system-ui,sans-serif;margin:0;color:#172b4d;background:#f7f8f9}
header{background:#fff;border-bottom:1px solid #dcdfe4;padding:12px 24px}
main{max-width:820px;margin:24px auto;background:#fff;padding:24px;border-radius:6px}
iframe{width:100%;border:0;min-height:160px;display:block}</style>"""


def _portal_page(server, issue: dict, account: str) -> str:
    src = html.escape(_signed(server, "/connect/portal", {"issueId": issue["id"], "issueKey": issue["key"]}, account))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{issue["key"]} - Help Center</title>{_STYLE}
</head><body><header>Help Center / Requests / <b>{issue["key"]}</b></header>
<main><h1>{html.escape(issue["summary"])}</h1><p>Status: Waiting for support</p><h3>Activity</h3>
<p>Our team is working on your request.</p>
<iframe id="herochecklist-portal" title="Checklist" src="{src}"></iframe></main></body></html>"""


def _admin_page(server, account: str) -> str:
    src = html.escape(_signed(server, "/connect/admin/api-tokens", {}, account))
    token_url = json.dumps(f"{ADMIN_TOKEN}?{urlencode({'as': account})}")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Apps - API tokens</title>{_STYLE}</head>
<body><header>Jira settings / Apps / <b>Checklist API tokens</b></header>
<main><iframe id="herochecklist-admin" title="Checklist API tokens" src="{src}"
 style="min-height:480px"></iframe></main>
<script>
// The host half of the AP shim (all.js): hands the page context tokens of the site, with no issue.
const frame = document.getElementById("herochecklist-admin");
window.addEventListener("message", async (event) => {{
  const msg = event.data;
  if (event.source !== frame.contentWindow || !msg || !msg.herochecklistAP || msg.type !== "getToken") return;
  const data = await (await fetch({token_url})).json();
  frame.contentWindow.postMessage({{herochecklistAP: true, type: "token", id: msg.id, token: data.token}}, "*");
}});
</script></body></html>"""
