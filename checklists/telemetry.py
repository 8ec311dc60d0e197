"""The panel's timing beacon: how long its users waited, as numbers only, into the side="client" metrics.

Body (JSON, at most MAX_BODY_BYTES): {"authorization": "Bearer <panel token>" | "JWT <context token>",
"render": seconds from page start to the first render, "api": [seconds per API call that got an answer],
"failed": [seconds per API call that failed: network error or 5xx]}; every timing is optional, at least one is needed.
navigator.sendBeacon cannot set headers, so the Connect panel puts its credential in the body, and it is checked exactly
as the Authorization header would be. The Forge panel posts through requestRemote, whose FIT arrives as the header.
Nothing but the numbers is kept: no issue, no user, no text (the site only decides whether reporting is on).

Answers: 204 recorded (or ignored: reporting is off for the site), 400/415 a bad body (JSON naming the field), 401,
405, 413, 429 over CLIENT_TIMING_RATE_PER_MINUTE beacons per user of a site."""

import logging
import math
import time

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from core.counters import window_count
from core.exceptions import ValidationFailed
from core.jsonbody import BadJson, bad_json_response, loads
from core.metrics import CLIENT_REPORTS, user_wait_record
from tenants.auth import AuthError, authenticate_api_request

from .callers import rate_subject

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 12_000  # a credential (at most 8 KB) and a few dozen numbers
MAX_CALLS = 20  # timings per list in one beacon
MAX_SECONDS = 120.0  # a longer wait is a broken measurement (a tab asleep), not a slow page
FIELDS = ("authorization", "render", "api", "failed")
CONTENT_TYPES = ("text/plain", "application/json")  # sendBeacon sends a string as text/plain


def _error(status: int, error: str, fields: dict | None = None, headers: dict | None = None) -> JsonResponse:
    body = {"error": error}
    if fields:
        body["fields"] = fields
    return JsonResponse(body, status=status, headers=headers)


def _seconds(value) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= MAX_SECONDS
    )


def _timings(body: dict) -> tuple[dict, dict]:
    """The validated timings, or the errors by field."""
    errors = {}
    for name in body:
        if name not in FIELDS:
            errors[name] = "is not a known field"
    render = body.get("render")
    if render is not None and not _seconds(render):
        errors["render"] = f"must be a number of seconds from 0 to {MAX_SECONDS:g}"
    lists = {}
    for name in ("api", "failed"):
        value = body.get(name, [])
        if not isinstance(value, list) or len(value) > MAX_CALLS or not all(map(_seconds, value)):
            errors[name] = f"must be a list of at most {MAX_CALLS} numbers of seconds from 0 to {MAX_SECONDS:g}"
        else:
            lists[name] = value
    if not errors and render is None and not lists["api"] and not lists["failed"]:
        errors["body"] = "carries no timing"
    return {"render": render, **lists}, errors


def _authenticate(request, body: dict):
    """The credential from the body, checked by the same code as the Authorization header (which it stands in for);
    without one, the header itself (Forge's FIT)."""
    credential = body.get("authorization")
    if credential is not None:
        if not isinstance(credential, str):
            raise AuthError("credential in the body is not a string")
        if "HTTP_AUTHORIZATION" in request.META:
            raise AuthError("credential in both the header and the body")
        request.META["HTTP_AUTHORIZATION"] = credential
        request.__dict__.pop("headers", None)  # HttpRequest.headers is cached from META
    return authenticate_api_request(request)


def _over_rate(request, auth) -> bool:
    minute = int(time.time() // 60)
    try:
        count = window_count(f"timing:{auth.tenant.id}:{rate_subject(request, auth)}:{minute}", ttl_seconds=120)
    except Exception as exc:  # the cache is down: timings are not worth refusing the user's browser over
        logger.warning("timing rate limit unavailable: %s", type(exc).__name__)
        return False
    if count is None:  # window_count fails open when the cache Redis is down (logged and counted there)
        return False
    return count > settings.CLIENT_TIMING_RATE_PER_MINUTE


@csrf_exempt
def client_timings(request):
    if request.method != "POST":
        return _error(405, "method_not_allowed", headers={"Allow": "POST"})
    content_type = request.content_type or ""
    if content_type not in CONTENT_TYPES:
        return _error(415, "unsupported_media_type", {"Content-Type": "must be text/plain or application/json"})
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_BODY_BYTES or len(request.body) > MAX_BODY_BYTES:
        return _error(413, "too_large", {"body": f"must be at most {MAX_BODY_BYTES} bytes"})
    try:
        body = loads(request.body)
    except BadJson:
        CLIENT_REPORTS.labels("rejected").inc()
        return bad_json_response()
    if not isinstance(body, dict):
        CLIENT_REPORTS.labels("rejected").inc()
        return _error(400, "invalid_body", {"body": "must be a JSON object"})
    try:
        auth = _authenticate(request, body)
    except AuthError as exc:
        logger.warning("timing beacon unauthenticated: %s", exc)
        CLIENT_REPORTS.labels("rejected").inc()
        return _error(401, "unauthorized")
    if _over_rate(request, auth):
        CLIENT_REPORTS.labels("rate_limited").inc()
        return _error(429, "rate_limited", headers={"Retry-After": "60"})
    timings, errors = _timings(body)
    if errors:
        CLIENT_REPORTS.labels("rejected").inc()
        return JsonResponse(ValidationFailed(errors).body(), status=400)
    if not auth.tenant.client_timing_enabled:
        CLIENT_REPORTS.labels("ignored").inc()
        return HttpResponse(status=204)
    if timings["render"] is not None:
        user_wait_record("client", "render", timings["render"])
    for seconds in timings["api"]:
        user_wait_record("client", "api", seconds)
    for seconds in timings["failed"]:
        user_wait_record("client", "api", seconds, failed=True)
    CLIENT_REPORTS.labels("accepted").inc()
    return HttpResponse(status=204)
