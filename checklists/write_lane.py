"""
A PATCH of one checklist item (PATCH /api/v1/issues/{issue_id}/checklist/items/{item_id}) without django-ninja's
dispatch: the panel's busiest write (every tick of a checkbox).

The same reasoning as checklists/read_lane.py: ninja's per-request machinery (its path and body models validated
around the payload, a temporary response, the operation lookup) gives this route nothing the view needs. Here the
body is read by the API's own parser and validated by the route's own schema (ItemPatchIn); then the same steps as
ninja's Operation.run, in the same order: the API's credential check (401), its throttles (429 with Retry-After), the
view, every error through the API's exception handlers.

Whatever ninja would refuse or answer otherwise, the lane hands to ninja's own view of the route, untouched: another
method (DELETE, or 405), an empty body, a body that is not JSON, not of a JSON type, too big, or not a valid
ItemPatchIn. Parsing and validating have no side effect, so a request handed over is answered exactly as before
(its credential and throttle checked once, by ninja). tests/checklists/test_write_lane.py compares the answers.
"""

from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from ninja.throttling import BaseThrottle
from pydantic import create_model

from .api import ItemPatchIn, _fields, api, item_update_fields
from .read_lane import ninja_answer, run_checks

ROUTE = "api/v1/issues/<issue_id>/checklist/items/<item_id>"  # the very route ninja declares (metrics label by it)
# The route declares no throttle of its own, so ninja applies the API's (tests/checklists/test_write_lane.py checks
# the two stay the same).
THROTTLES: list[BaseThrottle] = list(api.throttle)  # type: ignore[arg-type]


@csrf_exempt  # as every ninja view: the API authenticates each call with its own credential, never a cookie
def item_write(request: HttpRequest, issue_id: str, item_id: str) -> HttpResponseBase:
    data = _data(request) if request.method == "PATCH" else None
    if data is None:
        return ninja_view(request, issue_id, item_id)
    refused = run_checks(request, THROTTLES)
    if refused is not None:
        return refused
    try:
        return item_update_fields(request, issue_id, item_id, data)  # type: ignore[arg-type]
    except Exception as exc:
        return api.on_exception(request, exc)


# ItemPatchIn's fields and configuration on a plain pydantic model. A ninja Schema validates every body twice, the
# second time through a wrapper that reads each field with Python attribute lookups (for ORM objects, which a JSON
# body never is): what it accepts and the values it gives are the plain model's, at twice the cost.
_PLAIN = create_model(  # type: ignore[call-overload]
    "ItemPatchPlain",
    __config__=ItemPatchIn.model_config,
    **{name: (field.annotation, field) for name, field in ItemPatchIn.model_fields.items()},
)


def _data(request: HttpRequest) -> dict[str, Any] | None:
    """The body as the view reads its `payload` (api._fields: the fields given, as the service names them), or None
    whenever ninja would answer something else than the view. Read from the plain model directly: it holds the
    same fields set to the same values as the ItemPatchIn ninja would build (an ItemPatchIn built here only to be
    read back cost a PATCH about 45 Python calls, for each of its unset fields' defaults)."""
    try:
        if not request.body:
            return None
        plain = _PLAIN.model_validate(api.parser.parse_body(request))
    except Exception:
        return None
    return _fields(plain)


def ninja_view(request: HttpRequest, issue_id: str, item_id: str) -> Any:
    """Ninja's own view of this path: what answers every other method and every refused body, and what the tests
    compare with."""
    return ninja_answer(request, f"issues/{issue_id}/checklist/items/{item_id}")
