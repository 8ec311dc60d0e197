"""Our own panel tokens: HS256 tokens we mint for the issue panel once Jira or Forge has vouched for the viewer."""

import hashlib
import hmac
import math
import time
import uuid
from functools import lru_cache

import jwt
from django.conf import settings

from core import context
from core.identifiers import is_account_id, is_jira_id

from ..models import Tenant, TenantState
from ..selectors import tenant_for_id
from ..types import AuthContext, AuthError, IssueRef
from .tokens import Claims, _claim_text, _decode, _header, _unverified_claims

PANEL_ISSUER = "herochecklist"
PANEL_AUDIENCE = "herochecklist:panel"
# The template manager's pages (project settings, site admin) are about no issue: their token names none, so every
# issue it might touch is one Jira is asked about (Browse projects), like a Connect context token without an issue.
ADMIN_AUDIENCE = "herochecklist:admin"


def _panel_key() -> bytes:
    # A key of its own, derived from SECRET_KEY, so a panel token can never pass as any other signed value.
    return _derived_key(settings.SECRET_KEY)


@lru_cache(maxsize=4)
def _derived_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"herochecklist-panel-token-v1", hashlib.sha256).digest()


def mint_panel_token(*, tenant: Tenant, account_id: str, issue: IssueRef) -> str:
    now = int(time.time())
    claims = {
        "iss": PANEL_ISSUER,
        "aud": PANEL_AUDIENCE,
        "sub": account_id,
        "tid": str(tenant.id),
        "issue_id": issue.id,
        "issue_key": issue.key,
        "pid": issue.project_id,
        "itid": issue.issue_type_id,
        "iat": now,
        "exp": now + settings.PANEL_TOKEN_TTL_SECONDS,
        "gen": tenant.install_generation,
    }
    return jwt.encode(claims, _panel_key(), algorithm="HS256")


def mint_admin_token(*, tenant: Tenant, account_id: str) -> str:
    now = int(time.time())
    claims = {"iss": PANEL_ISSUER, "aud": ADMIN_AUDIENCE, "sub": account_id, "tid": str(tenant.id), "iat": now}
    claims["gen"] = tenant.install_generation
    claims["exp"] = now + settings.PANEL_TOKEN_TTL_SECONDS
    return jwt.encode(claims, _panel_key(), algorithm="HS256")


def verify_panel_token(token: str) -> AuthContext:
    if _header(token).get("alg") != "HS256":
        raise AuthError("panel tokens are HS256")
    if _unverified_claims(token).get("aud") == ADMIN_AUDIENCE:
        return _verify_admin_token(token)
    claims = _decode(
        token,
        _panel_key(),
        "HS256",
        required=["iss", "aud", "sub", "tid", "issue_id", "iat", "exp"],
        audience=PANEL_AUDIENCE,
        issuer=PANEL_ISSUER,
    )
    # Our own signature, but the claims are still checked for shape: a token minted by an older release, or with a
    # leaked key, must not reach a query with a value that is not a UUID.
    if not isinstance(claims["tid"], str) or not _is_uuid(claims["tid"]):
        raise AuthError("panel token tid is not a UUID")
    # "" is an anonymous viewer of a public issue (reads only, see tenants/permissions.py); else an accountId.
    if claims["sub"] != "" and not is_account_id(claims["sub"]):
        raise AuthError("panel token sub is not an accountId")
    if not isinstance(claims["issue_id"], str) or not is_jira_id(claims["issue_id"]):
        raise AuthError("panel token issue_id is not a Jira id")
    issue = IssueRef(
        id=claims["issue_id"],
        key=_claim_text(claims.get("issue_key"), "issue_key"),
        project_id=_claim_text(claims.get("pid"), "pid", numeric=True),
        issue_type_id=_claim_text(claims.get("itid"), "itid", numeric=True),
    )
    tenant = tenant_for_id(claims["tid"])
    if tenant is None or tenant.state not in (TenantState.INSTALLED, TenantState.ENABLED):
        raise AuthError("panel token for an unknown, disabled or uninstalled tenant")
    _minted_since_install(claims, tenant)
    context.client_key.set(tenant.client_key)
    return AuthContext(tenant=tenant, account_id=claims["sub"], source="panel", issue=issue)


def _verify_admin_token(token: str) -> AuthContext:
    required = ["iss", "aud", "sub", "tid", "iat", "exp"]
    claims = _decode(token, _panel_key(), "HS256", required=required, audience=ADMIN_AUDIENCE, issuer=PANEL_ISSUER)
    if not isinstance(claims["tid"], str) or not _is_uuid(claims["tid"]):
        raise AuthError("admin token tid is not a UUID")
    if not is_account_id(claims["sub"]):  # the manager's pages are for signed-in people only
        raise AuthError("admin token sub is not an accountId")
    tenant = tenant_for_id(claims["tid"])
    if tenant is None or tenant.state not in (TenantState.INSTALLED, TenantState.ENABLED):
        raise AuthError("admin token for an unknown, disabled or uninstalled tenant")
    _minted_since_install(claims, tenant)
    context.client_key.set(tenant.client_key)
    return AuthContext(tenant=tenant, account_id=claims["sub"], source="panel", issue=None)


def _minted_since_install(claims: Claims, tenant: Tenant) -> None:
    """A token names its site by id, and a reinstall keeps the id: a token minted before an uninstall worked again,
    for the rest of its life, once the site was reinstalled (the Connect secret is dropped at the uninstall; this
    token, signed with our own key, was not). Tokens from before the site's latest install are refused; a panel then
    swaps its token for a fresh context token, as on any 401 (static/herochecklist/transport.js).

    By the install count the token carries (gen), not by time: the token's iat is the minting host's clock and
    installed_at the installing host's, and a few seconds between them refused a token minted just after an install
    (the panel's swap got another such token) or let one minted just before it in. A count above the one known here
    is a process whose cached row is older than the minting one's: it stands. A token without gen was minted by an
    earlier release (within PANEL_TOKEN_TTL_SECONDS of it): the old comparison, in whole seconds as iat is."""
    generation = claims.get("gen")
    if generation is not None:
        if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
            raise AuthError("token gen is not a count")
        if generation < tenant.install_generation:
            raise AuthError("token minted before the site's latest install")
        return
    installed = tenant.installed_at
    if installed is not None and claims["iat"] < math.floor(installed.timestamp()):
        raise AuthError("token minted before the site's latest install")


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False
