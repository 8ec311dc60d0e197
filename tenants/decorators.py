import functools
import logging

from django.http import JsonResponse

from .auth import AuthError, verify_connect_jwt

logger = logging.getLogger(__name__)


def unauthorized(reason: str) -> JsonResponse:
    # One body for every failure: it names no tenant and no reason an attacker could probe with.
    logger.warning("authentication failed: %s", reason)
    return JsonResponse({"error": "unauthorized", "detail": "Authentication failed."}, status=401)


def request_token(request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme == "JWT" and token.strip():
        if "jwt" in request.GET:
            return ""  # a token in two places is ambiguous; Atlassian's own library refuses it too
        return token.strip()
    return request.GET.get("jwt", "")


def connect_jwt_required(*, allow_context_qsh: bool = False, allow_disabled: bool = False):
    """HS256 Connect JWT: sets request.tenant, request.account_id and request.jwt_claims, else 401 JSON."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            try:
                tenant, claims = verify_connect_jwt(
                    request_token(request),
                    request,
                    allow_context_qsh=allow_context_qsh,
                    allow_disabled=allow_disabled,
                )
            except AuthError as exc:
                return unauthorized(str(exc))
            request.tenant = tenant
            request.account_id = claims.get("sub", "")
            request.jwt_claims = claims
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
