"""Front doors: the Connect descriptor and lifecycle, and the Forge lifecycle trigger. Views stay thin; services do
the writes."""

import logging
from datetime import UTC, datetime

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from core.exceptions import ValidationFailed
from core.jsonbody import BadJson, bad_json_response, request_json

from . import services
from .auth import FORGE_LIFECYCLE_MODULE, AuthError, verify_install_jwt
from .decorators import connect_jwt_required, fit_required, request_token, unauthorized
from .descriptor import build_descriptor

logger = logging.getLogger(__name__)


@require_GET
def descriptor(request):
    return JsonResponse(build_descriptor())


def signed_at(claims: dict) -> datetime:
    """When Atlassian signed a lifecycle event: its JWT's iat (a finite number in datetime's range, tenants.auth)."""
    return datetime.fromtimestamp(claims["iat"], UTC)


def _signed_lifecycle(request):
    """Verify an RS256-signed install/uninstall. Returns (body, when it was signed), or a response to send instead.

    The body is read first: the token's issuer must be the body's clientKey. A body that is not JSON is a 400 naming
    it, but only for a request signed by Atlassian: any request that fails authentication is a 401 (the contract),
    whatever its body."""
    unreadable = False
    try:
        body = request_json(request)
    except BadJson:
        body, unreadable = None, True
    client_key = body.get("clientKey") if isinstance(body, dict) else None
    try:
        claims = verify_install_jwt(
            request_token(request), request, body_client_key=client_key, body_unreadable=unreadable
        )
    except AuthError as exc:
        return None, None, unauthorized(str(exc))
    if unreadable:
        return None, None, bad_json_response()
    return body, signed_at(claims), None


@csrf_exempt
@require_POST
def installed(request):
    body, signed, failure = _signed_lifecycle(request)
    if failure:
        return failure
    try:
        services.tenant_install(payload=body, signed_at=signed)
    except ValidationFailed as exc:
        return JsonResponse(exc.body("invalid_payload"), status=400)
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def uninstalled(request):
    body, signed, failure = _signed_lifecycle(request)
    if failure:
        return failure
    services.tenant_uninstall(client_key=body["clientKey"], signed_at=signed)
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
@connect_jwt_required(allow_disabled=True)
def enabled(request):
    services.tenant_set_enabled(tenant=request.tenant, enabled=True, signed_at=signed_at(request.jwt_claims))
    return HttpResponse(status=204)


@connect_jwt_required(allow_disabled=True)
def _disable(request):
    services.tenant_set_enabled(tenant=request.tenant, enabled=False, signed_at=signed_at(request.jwt_claims))
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def disabled(request):
    # Jira sometimes sends `disabled` with no JWT after an uninstall (AC-2561): acknowledge it and change nothing.
    if not request_token(request):
        return HttpResponse(status=204)
    return _disable(request)


FORGE_INSTALL_EVENTS = {"avi:forge:installed:app", "avi:forge:upgraded:app"}
FORGE_UNINSTALL_EVENTS = {"avi:forge:uninstalled:app"}


@csrf_exempt
@require_POST
@fit_required(FORGE_LIFECYCLE_MODULE)
def forge_lifecycle(request):
    """Forge app lifecycle trigger. The site is the FIT's installationId; the body only says what happened."""
    try:
        body = request_json(request, {})
    except BadJson:
        return bad_json_response()
    event_type = body.get("eventType") if isinstance(body, dict) else None
    if not isinstance(event_type, str):  # a number, list or object: refused below (a list would not even hash)
        event_type = None
    if event_type in FORGE_INSTALL_EVENTS:
        try:
            services.tenant_for_forge_invocation(
                claims=request.fit_claims,
                system_token=request.headers.get("x-forge-oauth-system", ""),
                # Only an install brings an uninstalled site back. An upgrade is of an app still installed: one that
                # reaches an uninstalled site was sent before the uninstall and delivered after it (events are
                # retried), and must not undo it.
                reactivate=event_type == "avi:forge:installed:app",
                allow_disabled=True,  # a lifecycle event, like Connect's `installed`: it never changes whether disabled
            )
        except AuthError:
            return HttpResponse(status=204)  # acknowledged, nothing changed: a retry would not change it either
    elif event_type in FORGE_UNINSTALL_EVENTS:
        services.tenant_uninstall_forge(installation_id=request.fit_claims["app"]["installationId"])
    else:
        allowed = sorted(FORGE_INSTALL_EVENTS | FORGE_UNINSTALL_EVENTS)
        return JsonResponse(
            {"error": "invalid_payload", "fields": {"eventType": f"must be one of {allowed}"}}, status=400
        )
    return HttpResponse(status=204)
