"""
The checklist read (GET /api/v1/issues/{issue_id}/checklist) without django-ninja's dispatch.

It is the contract's busiest call: every open panel makes it. Ninja's per-request machinery around the view (its
path-parameter model, a temporary response, the operation lookup) cost a read about 50 µs of its 450 (bench/api,
bench/RESULTS.md session 8) and gives this route nothing: its one parameter is a string the view checks itself.

The route stays declared in checklists/api.py, so the OpenAPI document, and every other method on this path (405 from
ninja, as before), are ninja's. This view takes the same steps as ninja's Operation.run, in the same order, with the
same objects: the API's credential check (401), the route's throttles (429 with Retry-After), the view itself, and
every error through the API's own exception handlers. tests/checklists/test_read_lane.py compares its answers with
ninja's for each of those outcomes.
"""

from functools import cache
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.urls import URLResolver
from django.urls.resolvers import RoutePattern
from django.views.decorators.csrf import csrf_exempt
from ninja.errors import AuthenticationError
from ninja.throttling import BaseThrottle

from .api import API_AUTH, api, checklist_get, checklist_read_throttles, throttled_response

ROUTE = "api/v1/issues/<issue_id>/checklist"  # the very route ninja declares (metrics label requests by route)


@csrf_exempt  # as every ninja view: the API authenticates each call with its own credential, never a cookie
def checklist_read(request: HttpRequest, issue_id: str) -> HttpResponseBase:
    if request.method != "GET":
        return ninja_view(request, issue_id)
    refused = run_checks(request, checklist_read_throttles())
    if refused is not None:
        return refused
    try:
        return checklist_get(request, issue_id)  # type: ignore[arg-type]
    except Exception as exc:
        return api.on_exception(request, exc)


def run_checks(request: HttpRequest, throttles: list[BaseThrottle]) -> HttpResponseBase | None:
    """What ninja's Operation._run_checks does before a view: the API's credential check (401, or the answer of
    the error it raised), then each throttle (429 with Retry-After). None when the request may go on; request.auth
    is then set."""
    try:
        auth = API_AUTH(request)  # type: ignore[arg-type]
    except Exception as exc:
        return api.on_exception(request, exc)
    if not auth:
        return api.on_exception(request, AuthenticationError())
    request.auth = auth  # type: ignore[attr-defined]
    waits = [throttle.wait() for throttle in throttles if not throttle.allow_request(request)]
    if waits:
        return throttled_response(request, max((wait for wait in waits if wait is not None), default=None))
    return None


def ninja_view(request: HttpRequest, issue_id: str) -> Any:
    """Ninja's own view of this path: what answers every other method, and what the tests compare with."""
    return ninja_answer(request, f"issues/{issue_id}/checklist")


def ninja_answer(request: HttpRequest, path: str) -> Any:
    """The answer of ninja's own view of `path` (relative to /api/v1/): where a lane hands a request over."""
    match = _ninja_resolver().resolve(path)
    return match.func(request, *match.args, **match.kwargs)


@cache
def _ninja_resolver() -> URLResolver:
    patterns, _app_name, _namespace = api.urls
    return URLResolver(RoutePattern(""), patterns)
