"""The REST API's one entry point: the Authorization header names the front door, and that door's checks decide."""

from django.http import HttpRequest

from core import context
from core.identifiers import is_account_id, is_customer_account

from ..services import tenant_for_forge_invocation
from ..types import AuthContext, AuthError
from .connect import connect_issue_ref, verify_connect_jwt
from .forge import (
    FORGE_ISSUER,
    FORGE_PANEL_MODULE,
    FORGE_TEMPLATE_MODULES,
    fit_module,
    forge_issue_ref,
    principals_user_token,
    verify_fit,
)
from .panel import PANEL_ISSUER, verify_panel_token
from .site_token import authenticate_site_token, is_site_token
from .tokens import MAX_TOKEN_LENGTH, _unverified_claims


def authenticate_api_request(
    request: HttpRequest,
    *,
    forge_modules: tuple[str, ...] = (FORGE_PANEL_MODULE, *FORGE_TEMPLATE_MODULES),
    customers: bool = False,
) -> AuthContext:
    """Any one of: Bearer panel token, JWT Connect context token, Bearer Forge Invocation Token (from one of
    `forge_modules`), Bearer site API token. A service desk customer's credential is refused unless `customers`
    (the portal's own read): the Connect portal page runs Atlassian's all.js, so a customer can ask it for a context
    token and bring it here, where a credential bound to the request reads every item, not only the visible ones.
    Jira grants customers Browse projects through portal access, so no permission check would stop them."""
    auth = _authenticate(request, forge_modules)
    if not customers and is_customer_account(auth.account_id):
        raise AuthError("a service desk customer's credential: customers read the portal only")
    return auth


def _authenticate(request: HttpRequest, forge_modules: tuple[str, ...]) -> AuthContext:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme == "JWT":
        tenant, claims = verify_connect_jwt(token, request, allow_context_qsh=True)
        # No `sub`: an anonymous viewer of a public issue. Authenticated as the site, with no user: reads only.
        account_id = claims.get("sub", "")
        if account_id != "" and not is_account_id(account_id):
            raise AuthError("Connect token sub is not an accountId")
        return AuthContext(tenant=tenant, account_id=account_id, source="connect", issue=connect_issue_ref(claims))
    if scheme == "Bearer" and is_site_token(token):
        return authenticate_site_token(token, request)
    if scheme == "Bearer":
        issuer = _unverified_claims(token).get("iss") if token else None
        if issuer == PANEL_ISSUER:
            return verify_panel_token(token)
        if issuer == FORGE_ISSUER:
            claims = verify_fit(token)
            if fit_module(claims) not in forge_modules:
                raise AuthError("FIT from a module that does not call the API")
            principal = claims.get("principal")
            if not is_account_id(principal):
                raise AuthError("FIT has no principal, or one that is not an accountId")
            # No system token from this door, whatever the headers say: its calls come from the browser through
            # @forge/bridge's requestRemote, which Forge does not proxy and to which it adds no OAuth token, so an
            # x-forge-oauth-system header here is the caller's own. Stored, it replaced the site's app token for
            # every background call (any viewer of a panel or a portal request could break them all). The token
            # comes with the invocations Forge makes itself: the lifecycle and event triggers (tenants/views.py,
            # checklists/workflow/views.py).
            tenant = tenant_for_forge_invocation(claims=claims)
            context.client_key.set(tenant.client_key)
            return AuthContext(
                tenant=tenant,
                account_id=principal,
                source="forge",
                issue=forge_issue_ref(claims),
                forge_claims=claims,
                # The same goes for x-forge-oauth-user: only the principal's own token is kept (see the function).
                user_token=principals_user_token(
                    request.headers.get("x-forge-oauth-user", "").strip()[:MAX_TOKEN_LENGTH], principal
                ),
            )
    raise AuthError("no supported credential")
