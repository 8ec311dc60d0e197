"""
A simulated Jira Cloud site plus Atlassian's key services, on 127.0.0.1 only, for `make run` and the tests.

It installs the app through the real signed lifecycle, renders issue pages that embed our panel with a valid
qsh JWT, offers a small AP shim in place of all.js, verifies and records the app's REST calls (issue
properties), serves install keys and a Forge JWKS. Never part of a production deployment.
"""

import html
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import jwt

from tenants.qsh import CONTEXT_QSH, query_string_hash

from . import jira_admin, jira_theme, jira_users, jira_workflow
from .http import JSONHandler, StandInServer
from .jira_issues import issue_answer
from .jira_portal import page_answer
from .keys import KeyPair, connect_token, install_token

APP_KEY_DEFAULT = "io.herochecklist.dev"
DEMO_ISSUES = [
    {"id": "10001", "key": "DEMO-1", "summary": "Release 2.4 to production", "projectId": "10000", "typeId": "10002"},
    {
        "id": "10002",
        "key": "DEMO-2",
        "summary": "Onboard the new support engineer",
        "projectId": "10000",
        "typeId": "10003",
    },
    {"id": "10003", "key": "DEMO-3", "summary": "Quarterly security review", "projectId": "10000", "typeId": "10002"},
]
DEMO_USER = "557058:devhost-alice"
# The site's people, by what Jira lets them do (ROLE_PERMISSIONS): the user switcher on each issue page opens the
# panel as any of them, so `make run` shows the editor's, the project admin's and the read-only panel.
DEMO_USERS = {
    "557058:devhost-alice": ("Alice (Jira admin)", "admin"),
    "557058:devhost-pat": ("Pat (project admin)", "project-admin"),
    "557058:devhost-bob": ("Bob (can edit issues)", "edit"),
    "557058:devhost-carol": ("Carol (can only browse)", "browse"),
}
ROLE_PERMISSIONS = {
    "none": set(),
    "browse": {"BROWSE_PROJECTS"},
    "edit": {"BROWSE_PROJECTS", "EDIT_ISSUES"},
    "project-admin": {"BROWSE_PROJECTS", "EDIT_ISSUES", "ADMINISTER_PROJECTS"},
    "admin": {"BROWSE_PROJECTS", "EDIT_ISSUES", "ADMINISTER_PROJECTS", "ADMINISTER"},
}
GLOBAL_PERMISSIONS = {"ADMINISTER"}
DEFAULT_PROJECT = "10000"


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    authorization_ok: bool
    body: object
    at: float = field(default_factory=time.time)


class JiraStandIn(StandInServer):
    def __init__(self, port: int = 0, *, app_key: str = APP_KEY_DEFAULT, client_key: str | None = None):
        super().__init__(port, _Handler)
        self.app_key = app_key
        self.install_keys = KeyPair()
        self.forge_keys = KeyPair()
        self.client_key = client_key or f"devhost-{secrets.token_hex(6)}"
        self.shared_secret = ""
        self.app_base_url = ""
        self.properties: dict[tuple[str, str], object] = {}
        self.recorded: list[Recorded] = []
        # Personal data reporting: accountIds Atlassian says are closed or updated, and the cycle it announces.
        self.closed_accounts: set[str] = set()
        self.updated_accounts: set[str] = set()
        self.cycle_period = "604800"
        self.system_tokens: set[str] = set()  # Forge app system tokens this site accepts as Bearer
        self.fail_next: list[
            int
        ] = []  # statuses to answer the next REST calls with (tests inject failures; 3xx redirect)
        self.retry_after = "120"  # the Retry-After of an injected 429
        # While set to an unset Event, REST PUTs (property writes) are recorded, then answered only once it is set: a
        # caller stalled mid-call, for a test to kill or time out.
        self.hold_puts: threading.Event | None = None
        # (path prefix, Event): REST calls under that prefix are recorded, then answered only once the Event is set
        # (Jira slower than the caller waits).
        self.stall: tuple[str, threading.Event] | None = None
        # Who may do what (mypermissions, permissions/check). Anyone not listed has `default_role`, so a test that is
        # not about permissions needs no setup; `grant` narrows or widens one account.
        self.users: dict[str, tuple[str, frozenset[str] | None, str]] = {
            a: (r, None, "browse") for a, (_, r) in DEMO_USERS.items()
        }
        self.default_role = "edit"
        self.user_tokens: dict[str, str] = {}  # Forge user tokens (x-forge-oauth-user) -> accountId
        self.user_token_key = secrets.token_urlsafe(32)  # signs them: Atlassian's key, which the app never holds
        # Whether the Forge app user (its system token) holds Administer Jira, which Jira requires of a caller asking
        # permissions/check about another user. Expected of Forge apps (atlassian-addons-admin), not documented: a
        # test sets False to see Jira refuse (403) and the app fail closed.
        self.forge_app_administers = True
        self.permission_checks: list[Recorded] = []  # kept apart from `recorded`: they are reads, not app writes
        self.other_site_secrets: list[str] = []  # a second site (tests' tenant B) served by this same stand-in
        # Faults of the permission endpoints, for the fail-closed path: "down" (503), "slow" (answers after
        # `permissions_delay` seconds), "garbage" (200 with a body that is not JSON). None answers normally.
        self.permissions_fault: str | None = None
        self.permissions_delay = 5.0
        self.permissions_body: bytes | None = None  # answered (200, JSON) to every permission check instead, when set
        self.install_key_requests: list[str] = []  # kids asked for at /install-keys/ (amplification tests count them)
        self.people = jira_users.Directory()  # user search and lookup for the panel's browser calls (jira_users.py)
        self.workflow = jira_workflow.Workflow(self)  # statuses, transitions with our rules, created issues
        # The site's issue types (GET /rest/api/3/issuetype) and its projects' types (GET /rest/api/3/project/{id},
        # projectTypeKey): the DEMO project is a service desk, as its customer portal (jira_portal.py) says.
        self.issue_types = [
            {"id": "10001", "name": "Bug"},
            {"id": "10002", "name": "Task"},
            {"id": "10003", "name": "Story"},
        ]
        self.project_types = {DEFAULT_PROJECT: "service_desk"}

    @property
    def install_keys_url(self) -> str:
        return f"{self.base_url}/install-keys"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/forge/.well-known/jwks.json"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    # --- what Jira does to the app ---------------------------------------------------------------------------

    def installed_payload(self, **overrides) -> dict:
        payload = {
            "key": self.app_key,
            "clientKey": self.client_key,
            "sharedSecret": self.shared_secret,
            "serverVersion": "100283",
            "pluginsVersion": "1001.0.0",
            "baseUrl": self.base_url,
            "displayUrl": self.base_url,
            "productType": "jira",
            "description": "Simulated Jira site",
            "eventType": "installed",
        }
        payload.update(overrides)
        return payload

    def install(self, app_base_url: str, *, rotate_secret: bool = True, audience: str = "") -> httpx.Response:
        """POST the signed `installed` lifecycle event to the app, as Jira does. `audience` is the app's declared
        baseUrl when it differs from the address we reach it at (a production-mode app behind no TLS proxy)."""
        if rotate_secret or not self.shared_secret:
            self.shared_secret = secrets.token_urlsafe(48)
        self.app_base_url = app_base_url.rstrip("/")
        token = install_token(
            self.install_keys,
            client_key=self.client_key,
            app_base_url=(audience or self.app_base_url).rstrip("/"),
            path="/connect/installed",
        )
        return httpx.post(
            f"{self.app_base_url}/connect/installed",
            json=self.installed_payload(),
            headers={"Authorization": f"JWT {token}"},
            timeout=10,
        )

    def panel_url(self, issue: dict, *, account_id: str = DEMO_USER) -> str:
        query = {
            "issueId": issue["id"],
            "issueKey": issue["key"],
            "projectId": issue["projectId"],
            "issueTypeId": issue["typeId"],
        }
        token = connect_token(
            secret=self.shared_secret,
            client_key=self.client_key,
            method="GET",
            path="/connect/panel",
            query=list(query.items()),
            account_id=account_id,
        )
        return f"{self.app_base_url}/connect/panel?{urlencode({**query, 'jwt': token})}"

    def context_token(self, issue: dict, *, account_id: str = DEMO_USER) -> str:
        context = {
            "jira": {
                "issue": {"id": issue["id"], "key": issue["key"], "issuetype": {"id": issue["typeId"]}},
                "project": {"id": issue["projectId"]},
            }
        }
        return connect_token(
            secret=self.shared_secret,
            client_key=self.client_key,
            qsh=CONTEXT_QSH,
            account_id=account_id,
            context=context,
            ttl=900,
        )

    # --- what the app does to Jira ---------------------------------------------------------------------------

    def verify_app_request(self, method: str, path: str, query: str, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        if scheme == "Bearer":
            return token in self.system_tokens
        secrets_known = [s for s in (self.shared_secret, *self.other_site_secrets) if s]
        if scheme != "JWT" or not secrets_known:
            return False
        for secret in secrets_known:
            try:
                claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["iss", "exp", "qsh"]})
                break
            except jwt.PyJWTError:
                continue
        else:
            return False
        expected = query_string_hash(method, path, parse_qsl(query, keep_blank_values=True))
        return claims["iss"] == self.app_key and claims["qsh"] == expected

    def property(self, issue_id: str, key: str):
        return self.properties.get((issue_id, key))

    # --- who may do what ----------------------------------------------------------------------------------------

    def grant(self, account_id: str, role: str, *, projects=None, elsewhere: str = "browse") -> None:
        """`role` in ROLE_PERMISSIONS; with `projects`, only in those projects (`elsewhere` in the others)."""
        if role not in ROLE_PERMISSIONS or elsewhere not in ROLE_PERMISSIONS:
            raise ValueError(f"unknown role {role} or {elsewhere}")
        self.users[account_id] = (role, frozenset(projects) if projects is not None else None, elsewhere)

    def user_token(self, account_id: str, *, sub: str | None = None) -> str:
        """A Forge user token for this account, as Forge sends in x-forge-oauth-user: a JWT whose `sub` names the
        account (`sub` overrides the claim, for the forms Atlassian may use), signed with a key only this site knows,
        like Atlassian's. The app reads `sub` unverified; this site answers only tokens it issued."""
        claims = {
            "sub": account_id if sub is None else sub,
            "jti": secrets.token_urlsafe(12),
            "exp": time.time() + 3600,
        }
        token = jwt.encode(claims, self.user_token_key, algorithm="HS256")
        self.user_tokens[token] = account_id
        return token

    def has_permission(self, account_id: str, permission: str, project_id: str = "") -> bool:
        role, projects, elsewhere = self.users.get(account_id, (self.default_role, None, "browse"))
        if permission not in GLOBAL_PERMISSIONS and projects is not None and project_id not in projects:
            role = elsewhere
        return permission in ROLE_PERMISSIONS[role]


_PROPERTY = re.compile(r"^/rest/api/3/issue/([^/]+)/properties/([^/]+)$")
_PROJECT = re.compile(r"^/rest/api/3/project/(\d{1,18})$")


ICON = Path(__file__).resolve().parents[1] / "static" / "herochecklist" / "icon.svg"
NOT_INSTALLED = (
    "HeroChecklist is not installed on this simulated Jira site yet: wait until `make run` prints"
    ' "HeroChecklist is running", then reload this page.\n'
)


class _Handler(JSONHandler):
    server: JiraStandIn

    def do_GET(self):
        parts = urlsplit(self.path)
        path, query = parts.path, dict(parse_qsl(parts.query))
        if path == "/rest/api/3/mypermissions":
            return self._permissions("GET", parts)
        if path.startswith("/install-keys/"):
            kid = path.removeprefix("/install-keys/")
            self.server.install_key_requests.append(kid)
            if kid == self.server.install_keys.kid:
                return self._send(200, self.server.install_keys.public_pem.encode(), "application/x-pem-file")
            return self._send(404, b"not found", "text/plain")
        if path == "/forge/.well-known/jwks.json":
            return self._json(200, {"keys": [self.server.forge_keys.jwk]})
        if path == "/all.js":
            return self._send(200, (AP_SHIM + jira_users.AP_REQUEST_SHIM).encode(), "application/javascript")
        if path == "/favicon.ico":  # the browser asks every page for it: our icon, rather than a 404 in the console
            return self._send(200, ICON.read_bytes(), "image/svg+xml")
        if not self.server.shared_secret and (path == "/context-token" or path.startswith("/browse/")):
            # Before the app's install there is no shared secret to sign the panel's token with (`make run` installs
            # it once the app answers): say so, rather than dropping the connection on the signer's exception.
            return self._send(503, NOT_INSTALLED.encode(), "text/plain; charset=utf-8")
        if path == "/context-token":
            issues = jira_workflow.issues(self.server, DEMO_ISSUES)
            issue = next((i for i in issues if i["id"] == query.get("issueId", "")), None)
            if not issue:
                return self._json(404, {"error": "no such issue"})
            account = query.get("as", DEMO_USER)
            return self._json(200, {"token": self.server.context_token(issue, account_id=account)})
        if (
            settings_page := jira_admin.page(self.server, path, query, users=DEMO_USERS, default_user=DEMO_USER)
        ) is not None:
            return self._send(200, settings_page.encode(), "text/html; charset=utf-8")
        if path in ("/", "/browse", "/browse/"):
            return self._send(200, _index_page(self.server).encode(), "text/html; charset=utf-8")
        if path.startswith("/browse/"):
            issues = jira_workflow.issues(self.server, DEMO_ISSUES)
            issue = next((i for i in issues if i["key"] == path.removeprefix("/browse/")), None)
            if not issue:
                return self._send(404, b"no such issue", "text/plain")
            account = query.get("as", DEMO_USER)
            page = _issue_page(
                self.server, issue, account, jira_theme.theme_of(query.get("theme")), note=query.get("note", "")
            )
            cookie = jira_users.session_cookie(self.server, account)  # the user's Jira session, for AP.request
            return self._send(200, page.encode(), "text/html; charset=utf-8", headers=cookie)
        if (page := page_answer(self.server, DEMO_ISSUES, path, query, DEMO_USER)) is not None:
            return self._send(*page)
        if path == "/_recorded":
            return self._json(200, [r.__dict__ for r in self.server.recorded])
        if _PROPERTY.match(path) or path.startswith("/rest/api/3/issue/") or path == "/rest/api/3/issuetype":
            return self._rest("GET", parts)
        if _PROJECT.match(path):
            return self._rest("GET", parts)
        if jira_users.handle_get(self, parts):
            return None
        return self._send(404, b"not found", "text/plain")

    def do_PUT(self):
        return self._rest("PUT", urlsplit(self.path))

    def do_POST(self):
        parts = urlsplit(self.path)
        if jira_workflow.handle(self, "POST", parts, DEMO_ISSUES):
            return None
        if parts.path == "/rest/api/3/permissions/check":
            return self._permissions("POST", parts)
        return self._rest("POST", parts)

    def _permissions(self, method: str, parts):
        """GET mypermissions (as the user of a Forge user token) and POST permissions/check (as the app, for any
        accountId: a Connect JWT, or a Forge system token while `forge_app_administers`), answering from `users` the
        way Jira's REST API v3 shapes its answers."""
        raw, body = self._body()
        server = self.server
        authorization = self.headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        refused = False  # authenticated, but not allowed to ask about another user (no Administer Jira)
        if method == "GET":
            caller = server.user_tokens.get(token) if scheme == "Bearer" else None
            ok = caller is not None
        elif scheme == "Bearer":  # the Forge app's system token: the app user, answered as Jira answers it
            ok = token in server.system_tokens
            refused = ok and not server.forge_app_administers
        else:
            ok = scheme == "JWT" and server.verify_app_request(method, parts.path, parts.query, authorization)
        with server.lock:
            server.permission_checks.append(Recorded(method, parts.path, parts.query, ok, body))
        if server.permissions_fault == "down":
            return self._json(503, {"errorMessages": ["service unavailable"]})
        if server.permissions_fault == "slow":
            time.sleep(server.permissions_delay)
        if server.permissions_fault == "garbage":
            return self._send(200, b"<html>Jira is having a moment</html>", "text/html")
        if server.permissions_body is not None:
            return self._send(200, server.permissions_body)
        if not ok:
            return self._json(401, {"errorMessages": ["not authenticated"]})
        if refused:
            return self._json(403, {"errorMessages": ["You need Administer Jira to check another user's permissions"]})
        if method == "GET":
            return self._my_permissions(caller, dict(parse_qsl(parts.query)))
        return self._bulk_permissions(body if isinstance(body, dict) else {})

    def _my_permissions(self, account_id: str, query: dict):
        keys = [k for k in query.get("permissions", "").split(",") if k]
        if not keys:
            return self._json(400, {"errorMessages": ["permissions is required"]})
        project = query.get("projectId") or _project_of(query.get("issueId", ""))
        answer = {k: {"key": k, "havePermission": self.server.has_permission(account_id, k, project)} for k in keys}
        return self._json(200, {"permissions": answer})

    def _bulk_permissions(self, body: dict):
        account_id = body.get("accountId", "")
        held = [p for p in body.get("globalPermissions") or [] if self.server.has_permission(account_id, p)]
        grants: dict[str, dict[str, list]] = {}
        for request in body.get("projectPermissions") or []:
            for permission in request.get("permissions") or []:
                grant = grants.setdefault(permission, {"issues": [], "projects": []})
                for issue_id in request.get("issues") or []:
                    if self.server.has_permission(account_id, permission, _project_of(str(issue_id))):
                        grant["issues"].append(issue_id)
                for project_id in request.get("projects") or []:
                    if self.server.has_permission(account_id, permission, str(project_id)):
                        grant["projects"].append(project_id)
        project_permissions = [{"permission": k, **v} for k, v in grants.items() if v["issues"] or v["projects"]]
        return self._json(200, {"globalPermissions": held, "projectPermissions": project_permissions})

    def do_DELETE(self):
        return self._rest("DELETE", urlsplit(self.path))

    def _rest(self, method: str, parts):
        raw, body = self._body()
        if body is None and raw:
            body = raw.decode(errors="replace")
        ok = self.server.verify_app_request(method, parts.path, parts.query, self.headers.get("Authorization", ""))
        with self.server.lock:
            self.server.recorded.append(Recorded(method, parts.path, parts.query, ok, body))
            injected = self.server.fail_next.pop(0) if self.server.fail_next else None
            hold = self.server.hold_puts if method == "PUT" else None
            stall = self.server.stall
        if hold is not None:
            hold.wait(120)
        if stall is not None and parts.path.startswith(stall[0]):
            stall[1].wait(120)
        if not ok:
            return self._json(401, {"errorMessages": ["JWT rejected"]})
        if injected:
            headers = {"Retry-After": self.server.retry_after} if injected == 429 else None
            if 300 <= injected < 400:  # a renamed site's old address sends every call to its new one
                headers = {"Location": f"https://renamed.example.invalid{self.path}"}
            return self._json(injected, {"errorMessages": ["injected failure"]}, headers=headers)
        if method == "POST" and parts.path == "/app/report-accounts/":
            return self._report_accounts(body)
        if method == "GET" and parts.path == "/rest/api/3/issuetype":
            return self._json(200, [{**t, "description": "", "subtask": False} for t in self.server.issue_types])
        if method == "GET" and (project := _PROJECT.match(parts.path)):
            kind = self.server.project_types.get(project.group(1))
            if kind is None:
                return self._json(404, {"errorMessages": ["No project could be found with id."]})
            return self._json(200, {"id": project.group(1), "key": "DEMO", "projectTypeKey": kind})
        if method == "GET" and (answer := issue_answer(DEMO_ISSUES, parts.path)):
            return self._json(*answer)
        match = _PROPERTY.match(parts.path)
        if not match:
            return self._json(404, {"errorMessages": ["unknown resource"]})
        key = (match.group(1), match.group(2))
        if method == "GET":
            if key not in self.server.properties:
                return self._json(404, {"errorMessages": ["property not found"]})
            return self._json(200, {"key": key[1], "value": self.server.properties[key]})
        if method == "DELETE":
            self.server.properties.pop(key, None)
            return self._send(204)
        if not isinstance(body, dict | list) or len(raw) > 32_768:
            return self._json(400, {"errorMessages": ["the property value must be JSON of at most 32 KB"]})
        existed = key in self.server.properties
        self.server.properties[key] = body
        return self._send(200 if existed else 201)

    def _report_accounts(self, body):
        accounts = body.get("accounts") if isinstance(body, dict) else None
        if not isinstance(accounts, list) or not 0 < len(accounts) <= 90:
            return self._json(400, {"errorMessages": ["1 to 90 accounts per request"]})
        answers = []
        for account in accounts:
            account_id = account.get("accountId")
            if account_id in self.server.closed_accounts:
                answers.append({"accountId": account_id, "status": "closed"})
            elif account_id in self.server.updated_accounts:
                answers.append({"accountId": account_id, "status": "updated"})
        headers = {"Cycle-Period": self.server.cycle_period}
        if not answers:
            return self._send(204, headers=headers)
        return self._json(200, {"accounts": answers}, headers=headers)


def _issue(issue_id: str) -> dict | None:
    return next((i for i in DEMO_ISSUES if i["id"] == issue_id), None)


def _project_of(issue_id: str) -> str:
    """Every issue of the stand-in is in the DEMO project unless DEMO_ISSUES says otherwise."""
    issue = _issue(issue_id)
    return issue["projectId"] if issue else DEFAULT_PROJECT


def _index_page(server: JiraStandIn) -> str:
    links = "".join(
        f'<li><a href="/browse/{i["key"]}">{i["key"]}</a> {html.escape(i["summary"])}</li>'
        for i in jira_workflow.issues(server, DEMO_ISSUES)
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Simulated Jira</title>
<style>body{{font:14px system-ui,sans-serif;margin:2rem;color:#172b4d}}</style></head>
<body><h1>Simulated Jira site</h1><p>Local stand-in for a Jira Cloud site with HeroChecklist installed.</p>
<ul>{links}</ul>{jira_admin.INDEX_LINKS}{jira_workflow.CREATE_FORM}
<p><a href="/servicedesk/customer/portal/1/DEMO-1">Service portal: DEMO-1</a> ·
<a href="/jira/settings/apps/api-tokens">Apps: Checklist API tokens</a></p></body></html>"""


def _user_switcher(issue: dict, account_id: str, theme: str = "light") -> str:
    options = "".join(
        f'<option value="{html.escape(a)}"{" selected" if a == account_id else ""}>{html.escape(name)}</option>'
        for a, (name, _) in DEMO_USERS.items()
    )
    return (
        f'<form method="get" action="/browse/{issue["key"]}" class="who"><label>Viewing as '
        f'<select name="as" onchange="this.form.submit()">{options}</select></label>'
        f"<noscript><button>Switch</button></noscript></form>{jira_theme.theme_switch(theme)}"
    )


def _issue_page(
    server: JiraStandIn, issue: dict, account_id: str = DEMO_USER, theme: str = "light", note: str = ""
) -> str:
    src = html.escape(server.panel_url(issue, account_id=account_id))
    issue_json = html.escape(json.dumps({"id": issue["id"], "as": account_id}))
    title = f"{issue['key']}: {html.escape(issue['summary'])}"
    root = jira_theme.host_attributes(theme)
    return f"""<!doctype html><html {root}><head><meta charset="utf-8"><title>{title}</title>
<style>{jira_theme.HOST_CSS}
body{{font:14px system-ui,sans-serif;margin:0;color:#172b4d;background:#f7f8f9}}
header{{background:#fff;border-bottom:1px solid #dcdfe4;padding:12px 24px;display:flex;gap:24px}}
.who{{margin-left:auto}}
main{{display:flex;gap:24px;padding:24px}}
.content{{flex:1;max-width:760px;background:#fff;padding:24px;border-radius:6px}}
aside{{width:320px;background:#fff;padding:16px;border-radius:6px;height:fit-content}}
iframe{{width:100%;border:0;min-height:120px;display:block}}
</style></head>
<body data-issue="{issue_json}"><header><a href="/">Projects</a> / DEMO / <b>{issue["key"]}</b>
{_user_switcher(issue, account_id, theme)}</header>
<main><section class="content"><h1>{html.escape(issue["summary"])}</h1>
<p>Description: the work described here is tracked with the checklist below.</p>
<h3>Checklist</h3>
<iframe id="herochecklist-panel" title="HeroChecklist" src="{src}"></iframe></section>
<aside><b>Details</b>{jira_workflow.issue_aside(server, issue, note)}<p>Assignee: Alice</p></aside></main>
<script>
// Host side of the AP shim: answers token requests and resizes the iframe, as Jira's host does for all.js.
const frame = document.getElementById("herochecklist-panel");
const issue = JSON.parse(document.body.dataset.issue);
window.addEventListener("message", async (event) => {{
  if (event.source !== frame.contentWindow || !event.data || !event.data.herochecklistAP) return;
  const msg = event.data;
  if (msg.type === "resize") {{ frame.style.height = Math.max(120, Math.ceil(msg.height)) + "px"; return; }}
  if (msg.type === "getToken") {{
    const query = "issueId=" + encodeURIComponent(issue.id) + "&as=" + encodeURIComponent(issue.as);
    const res = await fetch("/context-token?" + query);
    const data = await res.json();
    frame.contentWindow.postMessage({{herochecklistAP: true, type: "token", id: msg.id, token: data.token}}, "*");
  }}
}});
</script><script>{jira_users.HOST_SCRIPT}</script><script>{jira_theme.HOST_JS}</script></body></html>"""


AP_SHIM = (
    """// Stand-in for Atlassian's all.js: the parts the panel uses (context token, resize).
(function () {
  var pending = {}, next = 1;
  window.addEventListener("message", function (event) {
    var msg = event.data;
    if (event.source !== window.parent || !msg || !msg.herochecklistAP || msg.type !== "token") return;
    if (pending[msg.id]) { pending[msg.id](msg.token); delete pending[msg.id]; }
  });
  function post(msg) { msg.herochecklistAP = true; window.parent.postMessage(msg, "*"); }
  window.AP = {
    context: {
      getToken: function (callback) {
        return new Promise(function (resolve) {
          var id = next++;
          pending[id] = function (token) { if (callback) callback(token); resolve(token); };
          post({ type: "getToken", id: id });
        });
      }
    },
    resize: function (width, height) {
      post({ type: "resize", height: parseInt(height || document.documentElement.scrollHeight, 10) });
    },
    sizeToParent: function () {}
  };
})();
"""
    + jira_theme.AP_THEMING
)
