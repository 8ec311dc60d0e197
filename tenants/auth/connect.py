"""Connect requests from Jira: HS256 JWTs signed with the tenant's shared secret, bound to the request by qsh."""

from django.http import HttpRequest

from core import context

from ..models import Tenant, TenantState
from ..selectors import tenant_for_client_key
from ..types import AuthError, IssueRef
from .tokens import Claims, _check_qsh, _decode, _header, _issue_ref, _object, _unverified_claims


def verify_connect_jwt(
    token: str, request: HttpRequest, *, allow_context_qsh: bool = False, allow_disabled: bool = False
) -> tuple[Tenant, Claims]:
    """Verify an HS256 token from Jira. Returns (tenant, claims)."""
    if _header(token).get("alg") != "HS256":
        raise AuthError("Connect tokens must be HS256")
    client_key = _unverified_claims(token).get("iss")
    if not isinstance(client_key, str) or not client_key or client_key.startswith("forge:"):
        raise AuthError("iss missing")
    tenant = _connect_tenant(client_key, allow_disabled=allow_disabled)
    try:
        claims = _decode(token, tenant.shared_secret, "HS256", required=["iss", "iat", "exp", "qsh"])
    except AuthError:
        # The cached row may hold a secret another process has just replaced (a reinstall): ask the database once.
        fresh = _connect_tenant(client_key, allow_disabled=allow_disabled, fresh=True)
        if fresh.shared_secret_encrypted == tenant.shared_secret_encrypted:
            raise
        tenant = fresh
        claims = _decode(token, tenant.shared_secret, "HS256", required=["iss", "iat", "exp", "qsh"])
    _check_qsh(claims, request, allow_context_qsh=allow_context_qsh)
    context.client_key.set(tenant.client_key)
    return tenant, claims


def _connect_tenant(client_key: str, *, allow_disabled: bool, fresh: bool = False) -> Tenant:
    tenant = tenant_for_client_key(client_key, fresh=fresh)
    if tenant is None or not tenant.is_active or not tenant.shared_secret_encrypted:
        raise AuthError("unknown or uninstalled tenant")
    if tenant.state == TenantState.DISABLED and not allow_disabled:
        raise AuthError("tenant disabled")
    return tenant


def connect_issue_ref(claims: Claims) -> IssueRef | None:
    """The issue a Connect context token is bound to. Odd shapes or values are a 401, never a 500."""
    jira = _object(_object(claims.get("context"), "context").get("jira"), "context.jira")
    issue = _object(jira.get("issue"), "context.jira.issue")
    project = _object(jira.get("project"), "context.jira.project")
    issue_type = issue.get("issuetype")
    return _issue_ref(issue, project, type_id=issue_type.get("id") if isinstance(issue_type, dict) else None)
