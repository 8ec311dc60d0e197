"""
/api/v1/site-tokens: the app's admin page ("API tokens") creates, lists and revokes a site's API tokens
(tenants/site_tokens.py). Only Jira administrators of that site, asked of Jira like every right (permissions.py),
and never with a site token itself: a token cannot mint or revoke tokens.
"""

import uuid
from typing import Annotated

from ninja import Router, Schema
from pydantic import ConfigDict, StrictStr, WithJsonSchema

from core.exceptions import NotFound
from tenants import permissions
from tenants.auth import AuthError, authenticate_api_request
from tenants.auth.forge import FORGE_ADMIN_MODULE
from tenants.models import SiteToken, SiteTokenUse
from tenants.permissions import PermissionDenied
from tenants.site_tokens import (
    MAX_TOKEN_NAME,
    site_token_create,
    site_token_json,
    site_token_revoke,
    site_tokens_json,
)

from .api import api
from .schemas import NAME_PATTERN, PathItemId, responses
from .validation import clean_line


class _AdminPageAuth:
    """The API's credentials, plus a FIT from the Forge admin page module (which may call these routes only)."""

    def __call__(self, request):
        try:
            return authenticate_api_request(request, forge_modules=(FORGE_ADMIN_MODULE,))
        except AuthError as exc:
            request.auth_failure = str(exc)
            return None


router = Router(tags=["site tokens"], auth=_AdminPageAuth())

TokenName = Annotated[
    StrictStr,
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_TOKEN_NAME, "pattern": NAME_PATTERN}),
]
TokenScope = Annotated[StrictStr, WithJsonSchema({"type": "string", "enum": ["read", "write"]})]


class SiteTokenIn(Schema):
    model_config = ConfigDict(extra="forbid")
    name: TokenName
    scope: TokenScope


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("not a token id") from None


def _own_token(request, token_id: str) -> uuid.UUID:
    """The id of a token of the caller's site. Checked before any refusal: another site's token is 404 for every
    credential, a site token too (a 403 would say that it exists)."""
    pk = _uuid(token_id)
    if not SiteToken.objects.filter(tenant=request.auth.tenant, id=pk).exists():
        raise NotFound("no such token for this site")
    return pk


def _site_admin(request) -> None:
    auth = request.auth
    if auth.source == "site_token":
        raise PermissionDenied("A site API token cannot manage tokens.")
    permissions.require_jira_admin(
        auth, "manage this site's API tokens", "Only Jira administrators can manage this site's API tokens."
    )


@router.get("/site-tokens", response=responses({200: list[dict]}, found=False))
def token_list(request):
    _site_admin(request)
    return site_tokens_json(request.auth.tenant)


@router.post("/site-tokens", response=responses({201: dict}, body=True, found=False))
def token_create(request, payload: SiteTokenIn):
    """The answer's `token` is the only time the token is shown: it is stored as a hash."""
    _site_admin(request)
    name = clean_line(payload.name, "name", max_length=MAX_TOKEN_NAME)
    row, token = site_token_create(
        tenant=request.auth.tenant, name=name, scope=payload.scope, created_by=request.auth.account_id
    )
    return api.create_response(request, {**site_token_json(row), "token": token}, status=201)


@router.delete("/site-tokens/{token_id}", response=responses({200: dict}))
def token_revoke(request, token_id: PathItemId):
    pk = _own_token(request, token_id)
    _site_admin(request)
    row = site_token_revoke(tenant=request.auth.tenant, token_id=pk, revoked_by=request.auth.account_id)
    return site_token_json(row)


@router.get("/site-tokens/{token_id}/uses", response=responses({200: list[dict]}))
def token_uses(request, token_id: PathItemId):
    """The token's audit, newest first: who (the token, or the admin who created or revoked it), what, when."""
    pk = _own_token(request, token_id)
    _site_admin(request)
    uses = SiteTokenUse.objects.filter(tenant=request.auth.tenant, token_id=pk)
    return [
        {"actor": u.actor, "action": u.action, "at": u.created_at.isoformat()}
        for u in uses.order_by("-created_at")[:200]
    ]
