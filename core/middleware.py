import json
import logging
import re
import uuid

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.middleware.gzip import GZipMiddleware
from pymongo.errors import ConnectionFailure, ExecutionTimeout, WTimeoutError

from . import context
from .body import BodyRefused, load_body
from .db import is_write_conflict
from .metrics import DATABASE_UNAVAILABLE

logger = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")  # fullmatch: `$` would admit a trailing newline
JIRA_FRAME_ANCESTORS = ("https://*.atlassian.net", "https://*.jira.com")
# Where Jira's user avatars live (Atlassian's avatar service, Gravatar and its image proxy): Jira pages show them.
JIRA_AVATAR_HOSTS = ("https://*.atl-paas.net", "https://secure.gravatar.com", "https://*.wp.com")


class RequestContextMiddleware:
    """Gives every request an id (kept from a well-formed X-Request-ID) and a fresh log context.

    The context is cleared when the next request starts, not when this one ends: Django logs 4xx/5xx responses
    after the middleware chain has returned, and those lines should still carry the request id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        context.reset()
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        context.request_id.set(request.request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


def jira_frame(view):
    """Marks a view as a page Jira embeds in an iframe: framing allowed for Jira hosts only."""

    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.xframe_options_exempt = True
        response.jira_frame = True
        return response

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    wrapped.__wrapped__ = view
    return wrapped


def _origin(url: str) -> str:
    match = re.match(r"^(https?://[^/]+)", url or "")
    return match.group(1) if match else ""


# What a response may be kept as when its view said nothing: nowhere. Our pages and answers are per user and carry
# credentials (the panel's and the template manager's tokens in their HTML, a portal's items for one customer, a
# site's token list): a browser's disk cache or a proxy must not keep them for the next person at that computer.
# Static files never reach this middleware (WhiteNoise answers them first, with their own long-lived headers).
DEFAULT_CACHE_CONTROL = "private, no-store"


class SecurityHeadersMiddleware:
    """A Content-Security-Policy on every response; framing denied except on Jira pages; nothing stored by caches
    unless the view chose otherwise."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Cache-Control" not in response:
            response["Cache-Control"] = DEFAULT_CACHE_CONTROL
        if "Content-Security-Policy" in response:
            return response
        scripts, images = ["'self'"], "'self' data:"
        if getattr(response, "jira_frame", False):
            ancestors = " ".join((*JIRA_FRAME_ANCESTORS, *settings.EXTRA_FRAME_ANCESTORS))
            images = f"{images} {ancestors} {' '.join(JIRA_AVATAR_HOSTS)}"  # assignee avatars, served by Jira
            all_js = _origin(settings.ATLASSIAN_ALL_JS_URL)
            if all_js:
                scripts.append(all_js)
        else:
            ancestors = "'none'"
        response["Content-Security-Policy"] = "; ".join(
            (
                "default-src 'self'",
                f"script-src {' '.join(scripts)}",
                # Django's admin and Atlassian's all.js set inline styles; scripts stay strict.
                "style-src 'self' 'unsafe-inline'",
                f"img-src {images}",
                "connect-src 'self'",
                "object-src 'none'",
                "base-uri 'none'",
                "form-action 'self'",
                f"frame-ancestors {ancestors}",
            )
        )
        return response


class ApiHeadMiddleware:
    """HEAD on /api/ answers as GET does, without the body (RFC 9110): the same status and headers, Content-Length
    and ETag included (a gzipped answer's Content-Length is that of its own compression: GZipMiddleware pads each
    one with random bytes against BREACH, so no two GETs of it have the same length either). Django routes and ninja
    dispatch by method, and the API declares GET only, so the view is run as a GET; the method is HEAD again for
    everything outside this middleware (metrics, logs).

    Outside the error and gzip middleware, so the headers are those of the GET as sent; the body is dropped here
    rather than trusted to the server."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method != "HEAD" or not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        request.method = "GET"
        try:
            response = self.get_response(request)
        finally:
            request.method = "HEAD"
        if response.streaming:
            response.streaming_content = []
            return response
        if not response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))
        response.content = b""
        return response


class BodyLimitMiddleware:
    """Every body read through core.body before any view: the size limit enforced on what arrives (a chunked body
    too), with a JSON error (411, 413) instead of Django's bare 400 once a view reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            load_body(request)
        except BodyRefused as refused:
            return JsonResponse(refused.json(), status=refused.status)
        return self.get_response(request)


class QueryLimitMiddleware:
    """A query string of more parameters than Django will parse (DATA_UPLOAD_MAX_NUMBER_FIELDS) refused before any
    view, with a JSON 400 naming it. Django refuses one only once something reads request.GET (TooManyFieldsSent):
    inside the API (a route with a query parameter, the qsh of a Connect token) that reached the API's handlers as an
    unexpected error, a 500 and an error report for every such call of any user; on the Connect doors, which read their
    credential from the query, it was Django's HTML page. Counted as Python's parse_qsl counts for Django (one more
    than the separators), without parsing."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        query = request.META.get("QUERY_STRING", "")
        if limit is not None and query and query.count("&") + 1 > limit:
            body = {"error": "validation_failed", "fields": {"query": f"must have at most {limit} parameters"}}
            return JsonResponse(body, status=400)
        return self.get_response(request)


class ApiGZipMiddleware(GZipMiddleware):
    """gzip for /api/ JSON only. Pages that carry a token (the panel) stay uncompressed, so compression can never
    be used to guess a secret next to reflected input (BREACH)."""

    def process_response(self, request, response):
        if not request.path.startswith("/api/"):
            return response
        etag = response.get("ETag")
        response = super().process_response(request, response)
        if etag and not etag.startswith("W/"):
            # Our ETag is the checklist version, the same whatever the encoding, and clients send it back in
            # If-Match: GZipMiddleware's weakening would make every compressed answer look stale.
            response["ETag"] = etag
        return response


# --- errors on the API are JSON, whatever raised them ------------------------------------------------------------

API_PREFIX = "/api/"
# Database errors that say "not now" rather than "this request is wrong": down, full, read-only, locked too long.
# Django wraps SQLite's (and the MongoDB backend some of pymongo's) in its own classes; others arrive raw.
_UNAVAILABLE = (OperationalError, InterfaceError, ConnectionFailure, ExecutionTimeout, WTimeoutError)
_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    411: "length_required",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "server_error",
    503: "unavailable",
}
UNAVAILABLE_RETRY_AFTER_SECONDS = 10
# A transaction that lost to a concurrent one (MongoDB's write conflict) was rolled back whole: said alike by the API
# (409) and by pages and Jira's deliveries (503, which Jira redelivers).
WRITE_CONFLICT_DETAIL = "Someone changed this at the same moment; nothing was saved. Please retry."


def error_code(status: int) -> str:
    """The `error` code of an API error answer with this status (403: forbidden, ...), the same from every layer."""
    return _ERROR_CODES.get(status, "error")


def dependency_unavailable(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, _UNAVAILABLE):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _unavailable_counted(exc: BaseException) -> None:
    DATABASE_UNAVAILABLE.inc()
    logger.error("database unavailable", exc_info=exc)


def api_exception_response(request, exc: BaseException) -> JsonResponse:
    """The answer to an exception no view handled: 503 when the database refused (down, disk full, read-only), so
    clients retry; 500 otherwise. Neither says more than that: the details go to the log."""
    if dependency_unavailable(exc):
        _unavailable_counted(exc)
        response = JsonResponse(
            {"error": "unavailable", "detail": "The service is temporarily unavailable; please retry."}, status=503
        )
        response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_SECONDS)
        return response
    if is_write_conflict(exc):
        # Another request wrote the same MongoDB document inside its transaction first (two admins saving one
        # template): ours was rolled back whole. The checklist writes run theirs again; anything else says so.
        logger.warning("write conflict; the request was rolled back", exc_info=exc)
        response = JsonResponse({"error": "conflict", "detail": WRITE_CONFLICT_DETAIL}, status=409)
        response["Retry-After"] = "1"
        return response
    if isinstance(exc, Http404):  # raised by a view or by ninja itself (its docs page is off: GET /api/v1/)
        return JsonResponse({"error": "not_found", "detail": "No such resource."}, status=404)
    logger.error("unexpected error", exc_info=exc)
    return JsonResponse({"error": "server_error", "detail": "Something went wrong on our side."}, status=500)


class ApiErrorMiddleware:
    """Every error /api/ gives is JSON: exceptions (503 or 500, never Django's HTML page or DEBUG's traceback) and
    the error pages Django and ninja write themselves (404 for an unknown path, 405 for a wrong method, ...)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path.startswith(API_PREFIX)
            and response.status_code >= 400
            and not response.streaming
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            status = response.status_code
            response.content = json.dumps({"error": error_code(status)}).encode()
            response["Content-Type"] = "application/json"
            # The page replaced may have been compressed already (GZipMiddleware sits inside this one).
            if response.has_header("Content-Encoding"):
                del response["Content-Encoding"]
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
        return response

    def process_exception(self, request, exc):
        if request.path.startswith(API_PREFIX):
            return api_exception_response(request, exc)
        if dependency_unavailable(exc):
            # Pages and webhooks too (the staff console's import, the panel, Jira's deliveries): a database that is
            # down, locked or full is "try again", not Django's 500 page. Jira retries a 503 delivery as a 500's.
            _unavailable_counted(exc)
            response = HttpResponse(
                "The service is temporarily unavailable; please retry in a moment.\n",
                status=503,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_SECONDS)
            return response
        if is_write_conflict(exc):
            # A page's or a delivery's transaction lost to a concurrent one and was rolled back whole: "try again"
            # (Jira redelivers a 503 lifecycle call or webhook), not a 500.
            logger.warning("write conflict; the request was rolled back", exc_info=exc)
            response = HttpResponse(
                f"{WRITE_CONFLICT_DETAIL}\n",
                status=503,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = "1"
            return response
        return None
