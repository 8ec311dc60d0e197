"""
Every way a request proves which Jira site and user it comes from:
Connect HS256 JWTs (with qsh), Connect signed installs (RS256), Forge Invocation Tokens, and our panel tokens.

All failures raise AuthError, which views turn into one uniform 401; the reason is for our logs only.
"""

import hashlib
import hmac
import logging
import re
import threading
import time
from functools import lru_cache
from urllib.parse import urlparse

import httpx
import jwt
from django.conf import settings
from jwt.algorithms import RSAAlgorithm

from core import context

from .models import Tenant, TenantState
from .qsh import CONTEXT_QSH, query_string_hash
from .selectors import tenant_for_client_key, tenant_for_id
from .services import tenant_for_forge_invocation
from .types import AuthContext, AuthError, IssueRef  # AuthContext and IssueRef: also importable from here

logger = logging.getLogger(__name__)

KID_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
FORGE_ISSUER = "forge/invocation-token"
PANEL_ISSUER = "herochecklist"
PANEL_AUDIENCE = "herochecklist:panel"
MAX_TOKEN_LENGTH = 8192


def _header(token: str) -> dict:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise AuthError("missing or oversized token")
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AuthError(f"malformed token header: {type(exc).__name__}") from None


def _unverified_claims(token: str) -> dict:
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AuthError(f"malformed token claims: {type(exc).__name__}") from None


def _check_iat(claims: dict) -> None:
    # PyJWT rejects a future iat too, but our leeway rule is stated here so it cannot drift with the library.
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or iat > time.time() + settings.JWT_LEEWAY_SECONDS:
        raise AuthError("iat missing or in the future")


def _decode(token: str, key, algorithm: str, *, required: list[str], **kwargs) -> dict:
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            leeway=settings.JWT_LEEWAY_SECONDS,
            options={"verify_aud": "audience" in kwargs, "require": required},
            **kwargs,
        )
    except jwt.PyJWTError as exc:
        raise AuthError(f"token rejected: {type(exc).__name__}") from None
    _check_iat(claims)
    return claims


def expected_qsh(request) -> str:
    return query_string_hash(request.method, request.path, request.GET, _path_of(settings.BASE_URL))


@lru_cache(maxsize=4)
def _path_of(url: str) -> str:
    return urlparse(url).path


def _check_qsh(claims: dict, request, *, allow_context_qsh: bool) -> None:
    qsh = claims.get("qsh")
    if not isinstance(qsh, str):
        raise AuthError("qsh missing")
    if qsh == CONTEXT_QSH:
        if not allow_context_qsh:
            raise AuthError("context token on a qsh-only endpoint")
        return
    if not hmac.compare_digest(qsh, expected_qsh(request)):
        raise AuthError("qsh mismatch")


# --- Connect HS256 ---------------------------------------------------------------------------------------------


def verify_connect_jwt(token: str, request, *, allow_context_qsh: bool = False, allow_disabled: bool = False):
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


def connect_issue_ref(claims: dict) -> IssueRef | None:
    jira = (claims.get("context") or {}).get("jira") or {}
    issue, project = jira.get("issue") or {}, jira.get("project") or {}
    if not issue.get("id"):
        return None
    return IssueRef(
        id=str(issue["id"]),
        key=str(issue.get("key", "")),
        project_id=str(project.get("id", "")),
        issue_type_id=str(issue.get("issuetype", {}).get("id", "") if isinstance(issue.get("issuetype"), dict) else ""),
    )


# --- Connect signed install (RS256) ----------------------------------------------------------------------------

_install_keys: dict[tuple[str, str], object] = {}
_install_keys_lock = threading.Lock()


def install_public_key(kid: str):
    if not KID_PATTERN.match(kid) or ".." in kid:
        raise AuthError("kid has characters outside the allowed set")
    cache_key = (settings.ATLASSIAN_INSTALL_KEYS_URL, kid)
    with _install_keys_lock:
        if cache_key in _install_keys:
            return _install_keys[cache_key]
    url = f"{settings.ATLASSIAN_INSTALL_KEYS_URL.rstrip('/')}/{kid}"
    try:
        response = httpx.get(url, timeout=settings.OUTBOUND_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise AuthError(f"install key fetch failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise AuthError(f"install key {kid} not found ({response.status_code})")
    try:
        key = RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(response.text)
    except (jwt.PyJWTError, ValueError, TypeError):
        raise AuthError("install key is not an RSA public key") from None
    with _install_keys_lock:
        _install_keys[cache_key] = key
    return key


def verify_install_jwt(token: str, request, *, body_client_key: str) -> dict:
    header = _header(token)
    if header.get("alg") != "RS256":
        raise AuthError("signed install must be RS256")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise AuthError("kid missing")
    claims = _decode(token, install_public_key(kid), "RS256", required=["iss", "iat", "exp", "qsh", "aud"])
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if not audience or not isinstance(audience[0], str) or audience[0].rstrip("/") != settings.BASE_URL:
        raise AuthError("aud is not our baseUrl")
    if claims["iss"] != body_client_key:
        raise AuthError("iss does not match the body clientKey")
    _check_qsh(claims, request, allow_context_qsh=False)
    return claims


# --- Forge Invocation Tokens -----------------------------------------------------------------------------------

_jwks_clients: dict[tuple[str, float], jwt.PyJWKClient] = {}
_jwks_lock = threading.Lock()


def _jwks_client() -> jwt.PyJWKClient:
    url, cooldown = settings.FORGE_JWKS_URL, settings.FORGE_JWKS_REFRESH_COOLDOWN_SECONDS
    with _jwks_lock:
        if (url, cooldown) not in _jwks_clients:
            # Keys cached for an hour; an unknown kid triggers one refetch, at most once per cooldown, so a
            # flood of made-up kids cannot turn into a flood of requests to Atlassian.
            _jwks_clients[(url, cooldown)] = jwt.PyJWKClient(
                url,
                cache_keys=True,
                lifespan=3600,
                timeout=int(settings.OUTBOUND_TIMEOUT_SECONDS),
                cooldown_duration=cooldown,
            )
        return _jwks_clients[(url, cooldown)]


def verify_fit(token: str) -> dict:
    header = _header(token)
    if header.get("alg") != "RS256":
        raise AuthError("FIT must be RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not KID_PATTERN.match(kid):
        raise AuthError("kid missing or malformed")
    try:
        key = _jwks_client().get_signing_key(kid).key
    except jwt.PyJWTError as exc:
        raise AuthError(f"FIT key lookup failed: {type(exc).__name__}") from None
    claims = _decode(
        token,
        key,
        "RS256",
        required=["iss", "aud", "exp", "iat", "nbf"],
        audience=settings.FORGE_APP_ID,
        issuer=FORGE_ISSUER,
    )
    app = claims.get("app") or {}
    if not isinstance(app, dict) or not isinstance(app.get("installationId"), str) or not app["installationId"]:
        raise AuthError("FIT has no app.installationId")
    return claims


# The module keys of forge/manifest.yml: a FIT is accepted only where its module is meant to call.
FORGE_PANEL_MODULE = "herochecklist-panel"
FORGE_LIFECYCLE_MODULE = "herochecklist-lifecycle"
FORGE_ISSUE_DELETED_MODULE = "herochecklist-issue-deleted"


def fit_module(claims: dict) -> str:
    module = (claims.get("app") or {}).get("module") or {}
    return module.get("key", "") if isinstance(module, dict) else ""


def forge_issue_ref(claims: dict) -> IssueRef | None:
    extension = (claims.get("context") or {}).get("extension") or {}
    issue, project = extension.get("issue") or {}, extension.get("project") or {}
    if not isinstance(issue, dict) or not issue.get("id"):
        return None
    return IssueRef(
        id=str(issue["id"]),
        key=str(issue.get("key", "")),
        project_id=str(project.get("id", "")) if isinstance(project, dict) else "",
        issue_type_id=str(issue.get("typeId", "")),
    )


# --- Panel tokens (ours) ---------------------------------------------------------------------------------------


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
    }
    return jwt.encode(claims, _panel_key(), algorithm="HS256")


def verify_panel_token(token: str) -> AuthContext:
    if _header(token).get("alg") != "HS256":
        raise AuthError("panel tokens are HS256")
    claims = _decode(
        token,
        _panel_key(),
        "HS256",
        required=["iss", "aud", "sub", "tid", "issue_id", "iat", "exp"],
        audience=PANEL_AUDIENCE,
        issuer=PANEL_ISSUER,
    )
    tenant = tenant_for_id(claims["tid"])
    if tenant is None or tenant.state not in (TenantState.INSTALLED, TenantState.ENABLED):
        raise AuthError("panel token for an unknown, disabled or uninstalled tenant")
    context.client_key.set(tenant.client_key)
    issue = IssueRef(
        id=str(claims["issue_id"]),
        key=str(claims.get("issue_key", "")),
        project_id=str(claims.get("pid", "")),
        issue_type_id=str(claims.get("itid", "")),
    )
    return AuthContext(tenant=tenant, account_id=str(claims["sub"]), source="panel", issue=issue)


# --- One entry point for the REST API --------------------------------------------------------------------------


def authenticate_api_request(request) -> AuthContext:
    """Any one of: Bearer panel token, JWT Connect context token, Bearer Forge Invocation Token."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme == "JWT":
        tenant, claims = verify_connect_jwt(token, request, allow_context_qsh=True)
        account_id = claims.get("sub")
        if not isinstance(account_id, str) or not account_id:
            raise AuthError("Connect token has no user")
        return AuthContext(tenant=tenant, account_id=account_id, source="connect", issue=connect_issue_ref(claims))
    if scheme == "Bearer":
        issuer = _unverified_claims(token).get("iss") if token else None
        if issuer == PANEL_ISSUER:
            return verify_panel_token(token)
        if issuer == FORGE_ISSUER:
            claims = verify_fit(token)
            if fit_module(claims) != FORGE_PANEL_MODULE:
                raise AuthError("FIT from a module that does not call the API")
            principal = claims.get("principal")
            if not isinstance(principal, str) or not principal:
                raise AuthError("FIT has no principal")
            tenant = tenant_for_forge_invocation(
                claims=claims, system_token=request.headers.get("x-forge-oauth-system", "")
            )
            context.client_key.set(tenant.client_key)
            return AuthContext(
                tenant=tenant, account_id=principal, source="forge", issue=forge_issue_ref(claims), forge_claims=claims
            )
    raise AuthError("no supported credential")
