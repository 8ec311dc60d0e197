import functools
import logging

from django.http import JsonResponse

from .auth import AuthError, fit_module, verify_connect_jwt, verify_fit

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


def fit_required(module_key: str):
    """A Forge Invocation Token from the given manifest module: sets request.fit_claims, else 401 JSON."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            try:
                if scheme != "Bearer" or not token.strip():
                    raise AuthError("no FIT")
                claims = verify_fit(token.strip())
                if fit_module(claims) != module_key:
                    raise AuthError("FIT from another module")
            except AuthError as exc:
                return unauthorized(str(exc))
            request.fit_claims = claims
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
