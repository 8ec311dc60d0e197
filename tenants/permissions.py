"""
Who may do what: Jira is the authority, asked on the server for every write and remembered for at most 5 minutes.

- Changing a checklist needs Jira's "Edit issues" (EDIT_ISSUES) on that issue; anyone else reads.
- Changing a project's template needs "Administer projects" (ADMINISTER_PROJECTS) on that project, or Jira admin
  (ADMINISTER); changing a site-wide template needs Jira admin.
- An anonymous viewer (a Connect token without `sub`) reads only, without asking Jira.
- Reading a template: a site-wide one, any signed-in user of the site; a project's, who may browse that project (or
  administer it, or Jira); an anonymous viewer, none (they could apply none either).

How we ask, per front door:
- Connect (a Connect context JWT, or our panel token minted from one): POST /rest/api/3/permissions/check as the
  app (Connect JWT) naming the user's accountId. Atlassian documents that a Connect app calling from its server may
  check any user's permissions this way without being a Jira admin; it needs no ACT_AS_USER scope.
- Forge: our Custom UI calls with requestRemote, which Forge does not proxy: no x-forge-oauth-user token comes. So we
  ask as the app about the FIT's principal, with the same POST /rest/api/3/permissions/check: the Connect JWT where
  the site still has Connect credentials, else the site's Forge system token (from the lifecycle and event triggers)
  against its app.apiBaseUrl. UNCONFIRMED: that Forge's app user holds Administer Jira, which Jira requires to check
  another user (see _ask_for_forge_user); if not, Forge users read only. When a user token does come (invokeRemote)
  and it is the principal's own, GET /rest/api/3/mypermissions with it answers for that user.

The answer is cached in the shared cache per site + user + issue (or project, or site-wide), so every web node sees
one answer and a write costs a cache read, not a Jira call. When Jira cannot answer (down, slow, 4xx/5xx, a
malformed body, no credential to ask with, the app refused) the user gets no rights at all: read-only, never
"allowed by default".
"""

import hashlib
import logging
import time
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.cache import cache

from core.breaker import warn_unless_skipped

from .jira import JiraClient, JiraError

logger = logging.getLogger(__name__)

BROWSE_PROJECTS = "BROWSE_PROJECTS"
EDIT_ISSUES = "EDIT_ISSUES"
ADMINISTER_PROJECTS = "ADMINISTER_PROJECTS"
ADMINISTER = "ADMINISTER"
MAX_CACHE_SECONDS = 300  # the promise in README's security section: a revoked right stops working within 5 minutes
APP_ACCOUNT_ID = "app"  # who writes what the app does on its own (auto-applied templates); never a Jira account


class PermissionDenied(Exception):
    """The caller is who they say, but Jira does not let them do this: 403 with this message."""


class PermissionUnknown(PermissionDenied):
    """Jira could not be asked (down, slow, an error): still a 403 (fail closed, nothing written), but the answer
    says so and when to ask again, so a client tells its user to retry rather than that a right is missing."""

    def __init__(self, what: str):
        super().__init__(f"Jira did not answer whether you may {what}. Nothing was changed; try again shortly.")
        self.retry_after = max(1, _cache_seconds(False))


def _refuse(grants: "Grants", what: str, missing: str) -> None:
    raise PermissionUnknown(what) if not grants.answered else PermissionDenied(missing)


@dataclass(frozen=True)
class Grants:
    browse_issue: bool = False
    edit_issue: bool = False
    administer_project: bool = False
    administer_jira: bool = False
    browse_project: bool = False  # asked with a project's grants only
    answered: bool = True  # False when Jira could not be asked: every flag is then False (fail closed)

    @property
    def manage_project_templates(self) -> bool:
        return self.administer_project or self.administer_jira


NO_ANSWER = Grants(answered=False)


def issue_grants(auth, issue_id: str) -> Grants:
    """What this credential's user may do on one issue (and in its project, and site-wide)."""
    return _grants(auth, "issue", issue_id)


def template_grants(auth, project_id: str) -> Grants:
    """What this user may do with templates of one project (project_id set) or site-wide ones (empty)."""
    return _grants(auth, "project", project_id) if project_id else _grants(auth, "global", "")


def require_browse(auth, issue_id: str) -> None:
    """For a credential Jira did not bind to this issue (an integrator's, or a context token without issue context):
    reading needs Browse projects on it. A credential bound to the issue was issued to someone viewing it."""
    grants = issue_grants(auth, issue_id)
    if not grants.browse_issue:
        _refuse(grants, "see this issue", "You cannot see this issue in Jira (Browse projects).")


def require_edit(auth, issue_id: str) -> None:
    grants = issue_grants(auth, issue_id)
    if not grants.edit_issue:
        _refuse(
            grants, "edit this issue", "You can view this checklist but not edit it (Jira's Edit issues permission)."
        )


def may_read_templates(auth, project_id: str) -> bool:
    """Whether this credential may see the templates of one project (project_id set) or the site-wide ones."""
    if auth.source == "site_token":
        return True  # acts as the app on its site, as for checklists
    if not auth.account_id:
        return False
    if not project_id:
        return True
    grants = template_grants(auth, project_id)
    return grants.browse_project or grants.manage_project_templates


def may_auto_apply(auth) -> bool:
    """Whether reading an issue without a checklist through this credential may write the auto-apply template (the
    app's own write, checklists.services.checklist_open): every credential but a read-only site token. That token's
    scope writes nothing, and it names any issue id without Jira saying the issue exists, so a read there would
    create a checklist (and a property push to Jira) for every number it tried."""
    return auth.source != "site_token" or auth.scope == "write"


def require_jira_admin(auth, what: str, missing: str) -> None:
    """Jira's Administer Jira, for a site-wide change: `what` the user may not do when Jira cannot be asked,
    `missing` the refusal when it says no."""
    grants = template_grants(auth, "")
    if not grants.administer_jira:
        _refuse(grants, what, missing)


def require_template_admin(auth, project_id: str) -> None:
    grants = template_grants(auth, project_id)
    if project_id and not grants.manage_project_templates:
        _refuse(
            grants, "change this project's templates", "Only this project's administrators can change its templates."
        )
    if not project_id and not grants.administer_jira:
        _refuse(grants, "change site-wide templates", "Only Jira administrators can change site-wide templates.")


# --- cache -----------------------------------------------------------------------------------------------------


def _cache_seconds(answered: bool) -> int:
    seconds = settings.PERMISSION_CACHE_SECONDS if answered else settings.PERMISSION_FAILURE_CACHE_SECONDS
    return max(0, min(int(seconds), MAX_CACHE_SECONDS))


def _cache_key(tenant_id, account_id: str, kind: str, ident: str) -> str:
    # Hashed: accountIds and ids come from tokens, and a cache key must stay short and free of odd characters.
    digest = hashlib.sha256(f"{tenant_id}\0{account_id}\0{kind}\0{ident}".encode()).hexdigest()[:40]
    return f"perm:v2:{digest}"  # v2: five flags (browse_project); a v1 entry of four must not be read as five


# Entries this process has read from (or written to) the shared cache, reused while their age allows, so a read does
# not pay a Redis round trip for an answer it already holds (issue #21). The age rule below is the same for both, so
# the 5-minute promise holds; the entry is only ever replaced once it has aged out everywhere.
_seen: dict[str, dict] = {}
MAX_SEEN = 4096


def _cached(key: str) -> Grants | None:
    hit = _seen.get(key) if settings.CACHE_URL else None
    if hit is None or time.time() - hit["at"] >= _cache_seconds(hit["answered"]):
        try:
            hit = cache.get(key)
        except Exception as exc:  # the cache is an optimisation: with it down we ask Jira (every time), not fail
            warn_unless_skipped(logger, exc, "permission cache unreadable", exc_info=True)
            return None
        if not isinstance(hit, dict):
            return None
        _keep(key, hit)
    grants = Grants(*hit["flags"], answered=hit["answered"])
    # The age is checked against today's setting, not only the TTL the entry was stored with: lowering the setting
    # (or an operator's emergency PERMISSION_CACHE_SECONDS=0) takes effect on entries already cached.
    if time.time() - hit["at"] >= _cache_seconds(grants.answered):
        return None
    return grants


def _remember(key: str, grants: Grants) -> None:
    seconds = _cache_seconds(grants.answered)
    if seconds <= 0:
        return
    value = {
        "at": time.time(),
        "flags": [
            grants.browse_issue,
            grants.edit_issue,
            grants.administer_project,
            grants.administer_jira,
            grants.browse_project,
        ],
        "answered": grants.answered,
    }
    try:
        cache.set(key, value, timeout=seconds)
    except Exception as exc:
        warn_unless_skipped(logger, exc, "permission cache unwritable", exc_info=True)
    _keep(key, value)


def _keep(key: str, value: dict) -> None:
    if not settings.CACHE_URL:
        return  # the per-process memory cache is already local
    if len(_seen) >= MAX_SEEN:
        _seen.clear()
    _seen[key] = value


def _grants(auth, kind: str, ident: str) -> Grants:
    if auth.source == "site_token":
        # A site API token acts as the app on its site (README "Site API tokens"): it reads every checklist, writes
        # them with the write scope, and never administers templates or tokens. Jira is not asked: no user to ask for.
        return Grants(browse_issue=kind == "issue", edit_issue=kind == "issue" and auth.scope == "write")
    if not auth.account_id:
        return Grants()  # anonymous: reads only, and nothing to ask Jira
    key = _cache_key(auth.tenant.id, auth.account_id, kind, ident)
    grants = _cached(key)
    if grants is None:
        grants = _ask_jira(auth, kind, ident)
        _remember(key, grants)
    return grants


# --- asking Jira -----------------------------------------------------------------------------------------------


def _ask_jira(auth, kind: str, ident: str) -> Grants:
    try:
        if auth.source == "forge":
            return _ask_for_forge_user(auth, kind, ident)
        return _ask_as_connect_app(auth, kind, ident)
    except (JiraError, httpx.HTTPError, ValueError, TypeError, KeyError, AttributeError) as exc:
        # Fail closed. The reason goes to our logs (no token, no body), the user sees a read-only panel.
        logger.warning(
            "permission check failed: read-only",
            extra={"tenant_id": str(auth.tenant.id), "scope": kind, "reason": f"{type(exc).__name__}: {exc}"[:200]},
        )
        return NO_ANSWER


def _ask_as_connect_app(auth, kind: str, ident: str) -> Grants:
    if not _has_connect_credentials(auth.tenant):
        raise JiraError("no Connect credentials to ask with")
    client = JiraClient(auth.tenant, timeout=settings.PERMISSION_CHECK_TIMEOUT_SECONDS, connect=True)
    return _check_as_app(client, auth.account_id, kind, ident)


def _has_connect_credentials(tenant) -> bool:
    return not tenant.is_forge_only and bool(tenant.shared_secret_encrypted)


def _check_as_app(client: JiraClient, account_id: str, kind: str, ident: str) -> Grants:
    """POST /rest/api/3/permissions/check as the app (whichever credential `client` holds) about one accountId."""
    body = _check_body(account_id, kind, ident)
    data = client.request_json("POST", "/rest/api/3/permissions/check", json=body, attempts=1)
    return _check_answer(data, kind, ident)


def _check_body(account_id: str, kind: str, ident: str) -> dict:
    body: dict = {"accountId": account_id, "globalPermissions": [ADMINISTER]}
    if kind == "issue":
        wanted = [BROWSE_PROJECTS, EDIT_ISSUES, ADMINISTER_PROJECTS]
        body["projectPermissions"] = [{"permissions": wanted, "issues": [int(ident)]}]
    elif kind == "project":
        body["projectPermissions"] = [{"permissions": [BROWSE_PROJECTS, ADMINISTER_PROJECTS], "projects": [int(ident)]}]
    return body


def _check_answer(data, kind: str, ident: str) -> Grants:
    field = "issues" if kind == "issue" else "projects"
    granted: dict[str, set[str]] = {}
    for entry in _listed(data, "projectPermissions"):
        granted.setdefault(entry["permission"], set()).update(str(i) for i in _listed(entry, field))
    return Grants(
        browse_issue=kind == "issue" and ident in granted.get(BROWSE_PROJECTS, set()),
        browse_project=kind == "project" and ident in granted.get(BROWSE_PROJECTS, set()),
        edit_issue=kind == "issue" and ident in granted.get(EDIT_ISSUES, set()),
        administer_project=kind != "global" and ident in granted.get(ADMINISTER_PROJECTS, set()),
        administer_jira=ADMINISTER in _listed(data, "globalPermissions"),
    )


def _listed(answer, key: str) -> list:
    """answer[key], a list as Jira sends it (absent or null: empty), or JiraError: an answer of another shape is no
    answer. Searched as it came, a string held "ADMINISTER" as a substring (a Jira admin), and a string of digits or
    a dict's keys held the issue's id (editing granted): a malformed answer opened what it should have kept shut."""
    value = answer.get(key) if isinstance(answer, dict) else None
    if value is None and isinstance(answer, dict):
        return []
    if not isinstance(value, list):
        raise JiraError(f"the permission check's {key} is not a list")
    return value


def _ask_for_forge_user(auth, kind: str, ident: str) -> Grants:
    """A Forge caller's grants. With the user's own token (only the FIT principal's reaches here, tenants/auth/
    forge.py), Jira answers for that user. Our Custom UI calls with requestRemote, which carries no user token, so
    mostly we ask as the app about the principal: with the site's Connect JWT where it still has one (Atlassian
    documents that a Connect app's server may check any user), else with the site's Forge system token (delivered by
    the lifecycle and event triggers) against its app.apiBaseUrl.

    UNCONFIRMED: Jira answers permissions/check about another user only to a caller with Administer Jira. Forge's app
    user is expected to hold it as a member of atlassian-addons-admin, but the documentation we have does not say so.
    If it does not, Jira refuses (401/403) and every Forge user stays read-only (fail closed), logged here."""
    if auth.user_token:
        return _ask_as_forge_user(auth, kind, ident)
    connect = _has_connect_credentials(auth.tenant)
    if not connect and not auth.tenant.forge_system_token():
        raise JiraError("no user token, and no Forge system token stored for this site to ask as the app")
    client = JiraClient(auth.tenant, timeout=settings.PERMISSION_CHECK_TIMEOUT_SECONDS, connect=connect)
    return _check_as_app(client, auth.account_id, kind, ident)


def _ask_as_forge_user(auth, kind: str, ident: str) -> Grants:
    api_base_url = str(((auth.forge_claims or {}).get("app") or {}).get("apiBaseUrl") or "")
    query = {
        "issue": {
            "permissions": f"{BROWSE_PROJECTS},{EDIT_ISSUES},{ADMINISTER_PROJECTS},{ADMINISTER}",
            "issueId": ident,
        },
        "project": {"permissions": f"{BROWSE_PROJECTS},{ADMINISTER_PROJECTS},{ADMINISTER}", "projectId": ident},
        "global": {"permissions": ADMINISTER},
    }[kind]
    client = JiraClient(
        auth.tenant,
        timeout=settings.PERMISSION_CHECK_TIMEOUT_SECONDS,
        user_token=auth.user_token,
        api_base_url=api_base_url,
    )
    permissions = client.request_json("GET", "/rest/api/3/mypermissions", query=query, attempts=1)["permissions"]

    def have(key: str) -> bool:
        return (permissions.get(key) or {}).get("havePermission") is True

    return Grants(
        browse_issue=kind == "issue" and have(BROWSE_PROJECTS),
        browse_project=kind == "project" and have(BROWSE_PROJECTS),
        edit_issue=kind == "issue" and have(EDIT_ISSUES),
        administer_project=kind != "global" and have(ADMINISTER_PROJECTS),
        administer_jira=have(ADMINISTER),
    )
