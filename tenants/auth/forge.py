"""Forge Invocation Tokens: RS256 tokens checked against Atlassian's JWKS, and the Forge module that sent them."""

import logging
import threading
from typing import Any

import httpx
import jwt
from django.conf import settings

from core import jsonbody, outbound

from ..types import AuthError, IssueRef
from .tokens import KID_PATTERN, Claims, _claim_text, _decode, _header, _issue_ref, _object, _unverified_claims

logger = logging.getLogger(__name__)

FORGE_ISSUER = "forge/invocation-token"

_jwks_clients: dict[tuple[str, float], jwt.PyJWKClient] = {}
_jwks_lock = threading.Lock()


class _JwksClient(jwt.PyJWKClient):
    """PyJWT's client (its caches, its cooldown), fetching the way every outbound call of ours does. PyJWT's own fetch
    (urllib) had a timeout per socket read only, so a JWKS server trickling its answer held the Forge call that waited
    on it for as long as it liked, and it read the answer with json.load, so one nested thousands deep raised
    RecursionError (a 500) instead of a refused key. PyJWT documents fetch_data as the method a subclass overrides."""

    def fetch_data(self) -> Any:
        try:
            response = outbound.request("GET", self.uri, within=settings.OUTBOUND_KEYS_DEADLINE_SECONDS)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise jwt.PyJWKClientConnectionError(f"JWKS fetch failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise jwt.PyJWKClientConnectionError(f"JWKS answered {response.status_code}")
        try:
            keys = jsonbody.loads(response.content)
        except jsonbody.BadJson:
            raise jwt.PyJWKClientError("the JWKS answer is not JSON") from None
        if not isinstance(keys, dict):
            raise jwt.PyJWKClientError("the JWKS answer is not a JSON object")
        return keys


def _jwks_client() -> jwt.PyJWKClient:
    url, cooldown = settings.FORGE_JWKS_URL, settings.FORGE_JWKS_REFRESH_COOLDOWN_SECONDS
    with _jwks_lock:
        if (url, cooldown) not in _jwks_clients:
            # Keys cached for an hour; an unknown kid triggers one refetch, at most once per cooldown, so a
            # flood of made-up kids cannot turn into a flood of requests to Atlassian.
            _jwks_clients[(url, cooldown)] = _JwksClient(
                url, cache_keys=True, lifespan=3600, cooldown_duration=cooldown
            )
        return _jwks_clients[(url, cooldown)]


def verify_fit(token: str) -> Claims:
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
# The template manager: jira:projectSettingsPage and jira:adminPage. Their FITs carry no issue.
FORGE_TEMPLATE_MODULES = ("herochecklist-templates-project", "herochecklist-templates-admin")
FORGE_ADMIN_MODULE = "herochecklist-api-tokens"  # jira:adminPage "API tokens": the /site-tokens routes only
FORGE_PORTAL_MODULE = "herochecklist-portal"  # jiraServiceManagement:portalRequestDetail: /portal/checklist only


def fit_module(claims: Claims) -> str:
    module = _object(claims.get("app"), "app").get("module") or {}
    key = module.get("key", "") if isinstance(module, dict) else ""
    return key if isinstance(key, str) else ""


def forge_issue_ref(claims: Claims) -> IssueRef | None:
    extension = _object(_object(claims.get("context"), "context").get("extension"), "context.extension")
    issue = _object(extension.get("issue"), "context.extension.issue")
    project = _object(extension.get("project"), "context.extension.project")
    return _issue_ref(issue, project, type_id=issue.get("typeId"))


def principals_user_token(token: str, principal: str) -> str:
    """The x-forge-oauth-user token when it is the FIT principal's own, else "" (ask Jira as the app instead).

    Our Custom UI calls with requestRemote, which Forge does not proxy and to which it adds no OAuth token: any such
    header comes from the browser, which can put another user's token there (a Jira admin's, say) and borrow their
    rights. Its `sub` is read without checking the signature: Jira checks it when we use the token, and a forged
    token then answers 401 (read-only). UNCONFIRMED: the form of `sub` in Forge user tokens. Atlassian's OAuth access
    tokens carry the bare accountId; Connect's impersonation names `urn:atlassian:connect:useraccountid:<accountId>`.
    Both are accepted: the exact accountId, or one ending in `:<accountId>` (a whole segment, never a substring)."""
    if not token:
        return ""
    try:
        subject = _unverified_claims(token).get("sub")
    except AuthError:
        subject = None
    if isinstance(subject, str) and principal and (subject == principal or subject.endswith(f":{principal}")):
        return token
    logger.warning("x-forge-oauth-user ignored: not a token of the FIT's principal; asking Jira as the app")
    return ""
