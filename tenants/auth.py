"""
Every way a request proves which Jira site and user it comes from:
Connect HS256 JWTs (with qsh), Connect signed installs (RS256), Forge Invocation Tokens, and our panel tokens.

All failures raise AuthError, which views turn into one uniform 401; the reason is for our logs only.
"""

import hashlib
import hmac
import logging
import math
import re
import threading
import time
import uuid
from functools import lru_cache
from urllib.parse import urlparse

import httpx
import jwt
from django.conf import settings
from jwt.algorithms import RSAAlgorithm

from core import context
from core.identifiers import is_account_id, is_jira_id

from .models import Tenant, TenantState
from .qsh import CONTEXT_QSH, query_string_hash
from .selectors import tenant_for_client_key, tenant_for_id
from .services import tenant_for_forge_invocation
from .types import AuthContext, AuthError, IssueRef  # AuthContext and IssueRef: also importable from here

logger = logging.getLogger(__name__)

# Always fullmatch: `$` would admit a trailing newline, which then reaches the key URL.
KID_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
FORGE_ISSUER = "forge/invocation-token"
PANEL_ISSUER = "herochecklist"
PANEL_AUDIENCE = "herochecklist:panel"
MAX_TOKEN_LENGTH = 8192
MAX_CLAIM_STRING = 255  # installationId, cloudId, issue keys: longer is not something Atlassian sends
# Seconds since the epoch that a time claim may hold: a finite number before the year 5000 (datetime's range,
# and int() of an infinite float raises).
MAX_TIMESTAMP = 95_617_584_000


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


def _check_times(claims: dict) -> None:
    """Time claims are plain finite numbers in datetime's range: not strings, booleans, NaN or infinity (PyJWT reads
    "123" and True as numbers, and our own code turns these claims into datetimes)."""
    for name in ("exp", "iat", "nbf"):
        if name not in claims:
            continue
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AuthError(f"{name} is not a number")
        if not math.isfinite(value) or not 0 <= value < MAX_TIMESTAMP:
            raise AuthError(f"{name} is out of range")


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
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as exc:
        # A validly signed token may still carry claims the library cannot read: a 401 like any other.
        raise AuthError(f"token rejected: {type(exc).__name__}") from None
    _check_times(claims)
    _check_iat(claims)
    return claims


def _object(value, what: str) -> dict:
    """A claim that must be a JSON object when present; None or absent reads as empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AuthError(f"{what} is not an object")
    return value


def _claim_text(value, what: str, *, numeric: bool = False) -> str:
    """An optional short string claim ("" when absent). Jira sends some ids as numbers; those are read as text."""
    if value is None or value == "":
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or len(value) > MAX_CLAIM_STRING or not value.isprintable():
        raise AuthError(f"{what} is not a short string")
    if numeric and not is_jira_id(value):
        raise AuthError(f"{what} is not a Jira id")
    return value


def _issue_ref(issue: dict, project: dict, *, type_id) -> IssueRef | None:
    if not issue.get("id"):
        return None
    return IssueRef(
        id=_claim_text(issue["id"], "issue id", numeric=True),
        key=_claim_text(issue.get("key"), "issue key"),
        project_id=_claim_text(project.get("id"), "project id", numeric=True),
        issue_type_id=_claim_text(type_id, "issue type id", numeric=True),
    )


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
    # As bytes: compare_digest raises TypeError on str with non-ASCII characters (a 500 for a signed odd qsh).
    if not hmac.compare_digest(qsh.encode("utf-8", "surrogatepass"), expected_qsh(request).encode()):
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
    """The issue a Connect context token is bound to. Odd shapes or values are a 401, never a 500."""
    jira = _object(_object(claims.get("context"), "context").get("jira"), "context.jira")
    issue = _object(jira.get("issue"), "context.jira.issue")
    project = _object(jira.get("project"), "context.jira.project")
    issue_type = issue.get("issuetype")
    return _issue_ref(issue, project, type_id=issue_type.get("id") if isinstance(issue_type, dict) else None)


# --- Connect signed install (RS256) ----------------------------------------------------------------------------

# (keys URL, kid) -> (key, fetched at): fetched keys expire, so a key Atlassian revokes stops being trusted.
_install_keys: dict[tuple[str, str], tuple[object, float]] = {}
# (keys URL, kid) -> unknown until: kids Atlassian did not serve, not asked for again for a while.
_install_key_misses: dict[tuple[str, str], float] = {}
# keys URL -> no fetch of an unknown kid before this moment (set by every failed fetch).
_install_key_cooldown: dict[str, float] = {}
_install_keys_lock = threading.Lock()
MAX_REMEMBERED_MISSES = 4096


def install_public_key(kid: str):
    """The RSA key Atlassian signs installs with. Anyone can send an install with any kid before we know who they
    are, so at most one fetch per cooldown leaves this process for kids we do not hold."""
    if not KID_PATTERN.fullmatch(kid) or ".." in kid:
        raise AuthError("kid has characters outside the allowed set")
    base = settings.ATLASSIAN_INSTALL_KEYS_URL
    cache_key = (base, kid)
    now = time.monotonic()
    with _install_keys_lock:
        cached = _install_keys.get(cache_key)
        if cached is not None and now - cached[1] < settings.ATLASSIAN_INSTALL_KEY_CACHE_SECONDS:
            return cached[0]
        if _install_key_misses.get(cache_key, 0.0) > now:
            raise AuthError(f"install key {kid} is known to be unknown")
        if _install_key_cooldown.get(base, 0.0) > now:
            raise AuthError("install key fetch cooling down after a failed one")
        # Taken before the fetch, so concurrent requests with made-up kids do not all go out at once; a success
        # gives the slot back.
        _install_key_cooldown[base] = now + settings.ATLASSIAN_INSTALL_KEY_COOLDOWN_SECONDS
    try:
        key = _fetch_install_key(base, kid)
    except AuthError:
        with _install_keys_lock:
            if len(_install_key_misses) >= MAX_REMEMBERED_MISSES:
                _install_key_misses.clear()  # a flood of made-up kids: the cooldown still holds the line
            _install_key_misses[cache_key] = time.monotonic() + settings.ATLASSIAN_INSTALL_KEY_MISS_SECONDS
            _install_key_cooldown[base] = time.monotonic() + settings.ATLASSIAN_INSTALL_KEY_COOLDOWN_SECONDS
        raise
    with _install_keys_lock:
        _install_key_cooldown.pop(base, None)
        _install_keys[cache_key] = (key, time.monotonic())
    return key


def _fetch_install_key(base: str, kid: str):
    url = f"{base.rstrip('/')}/{kid}"
    try:
        response = httpx.get(url, timeout=settings.OUTBOUND_TIMEOUT_SECONDS)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        # InvalidURL is not an HTTPError: a malformed keys URL (or kid) must be a 401 too, never a 500.
        raise AuthError(f"install key fetch failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise AuthError(f"install key {kid} not found ({response.status_code})")
    try:
        return RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(response.text)
    except (jwt.PyJWTError, ValueError, TypeError, UnicodeDecodeError):
        raise AuthError("install key is not an RSA public key") from None


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
    if not isinstance(claims["iss"], str) or claims["iss"] != body_client_key:
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
    if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
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
    app = _object(claims.get("app"), "app")
    if not _claim_text(app.get("installationId"), "app.installationId") or not isinstance(app["installationId"], str):
        raise AuthError("FIT has no app.installationId")
    _claim_text(app.get("apiBaseUrl"), "app.apiBaseUrl")
    context_claim = _object(claims.get("context"), "context")
    for name in ("cloudId", "siteUrl"):
        _claim_text(context_claim.get(name), f"context.{name}")
    return claims


# The module keys of forge/manifest.yml: a FIT is accepted only where its module is meant to call.
FORGE_PANEL_MODULE = "herochecklist-panel"
FORGE_LIFECYCLE_MODULE = "herochecklist-lifecycle"
FORGE_ISSUE_DELETED_MODULE = "herochecklist-issue-deleted"


def fit_module(claims: dict) -> str:
    module = _object(claims.get("app"), "app").get("module") or {}
    key = module.get("key", "") if isinstance(module, dict) else ""
    return key if isinstance(key, str) else ""


def forge_issue_ref(claims: dict) -> IssueRef | None:
    extension = _object(_object(claims.get("context"), "context").get("extension"), "context.extension")
    issue = _object(extension.get("issue"), "context.extension.issue")
    project = _object(extension.get("project"), "context.extension.project")
    return _issue_ref(issue, project, type_id=issue.get("typeId"))


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
    context.client_key.set(tenant.client_key)
    return AuthContext(tenant=tenant, account_id=claims["sub"], source="panel", issue=issue)


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


# --- One entry point for the REST API --------------------------------------------------------------------------


def authenticate_api_request(request) -> AuthContext:
    """Any one of: Bearer panel token, JWT Connect context token, Bearer Forge Invocation Token."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme == "JWT":
        tenant, claims = verify_connect_jwt(token, request, allow_context_qsh=True)
        # No `sub`: an anonymous viewer of a public issue. Authenticated as the site, with no user: reads only.
        account_id = claims.get("sub", "")
        if account_id != "" and not is_account_id(account_id):
            raise AuthError("Connect token sub is not an accountId")
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
            if not is_account_id(principal):
                raise AuthError("FIT has no principal, or one that is not an accountId")
            tenant = tenant_for_forge_invocation(
                claims=claims, system_token=request.headers.get("x-forge-oauth-system", "")
            )
            context.client_key.set(tenant.client_key)
            return AuthContext(
                tenant=tenant,
                account_id=principal,
                source="forge",
                issue=forge_issue_ref(claims),
                forge_claims=claims,
                user_token=request.headers.get("x-forge-oauth-user", "").strip()[:MAX_TOKEN_LENGTH],
            )
    raise AuthError("no supported credential")
