"""Site API tokens (`Bearer hc_…`, tenants/site_tokens.py): the app's own credential for one site, read or read-write.

Not a JWT: an opaque random token found by its prefix and checked against its stored SHA-256. It names no user and
no issue; permissions.py grants it what the app may do on its site, by scope."""

from typing import cast

from django.http import HttpRequest

from core import context

from ..models import SiteToken, TenantState
from ..site_tokens import TOKEN_PREFIX, site_token_for, site_token_record_use, token_actor
from ..types import AuthContext, AuthError

SITE_TOKEN_SOURCE = "site_token"


def is_site_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


def verify_site_token(token: str) -> AuthContext:
    row = site_token_for(token)
    if row is None:
        raise AuthError("unknown, malformed or revoked site token")
    if row.tenant.state not in (TenantState.INSTALLED, TenantState.ENABLED):
        raise AuthError("site token of a disabled or uninstalled site")
    context.client_key.set(row.tenant.client_key)
    return AuthContext(
        tenant=row.tenant, account_id=token_actor(row), source=SITE_TOKEN_SOURCE, scope=row.scope, site_token=row
    )


def authenticate_site_token(token: str, request: HttpRequest) -> AuthContext:
    """The /api/v1 door: verify, then audit the use as the route it calls (a pattern: no ids, no query, no body)."""
    auth = verify_site_token(token)
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", "") or request.path
    site_token_record_use(cast(SiteToken, auth.site_token), f"{request.method} /{route.lstrip('/')}")
    return auth
