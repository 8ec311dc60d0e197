"""The item PATCH's own lane (checklists/write_lane.py) answers as ninja's dispatch of the same route does: each
outcome is asked of both, with the same request, and the answers compared."""

import json

import pytest
from django.core.cache import cache
from django.test import RequestFactory
from django.urls import resolve
from ninja.constants import NOT_SET
from pydantic import ValidationError

from checklists import api as api_module
from checklists import write_lane
from checklists.api import API_AUTH, ItemPatchIn, api, item_update
from checklists.models import Checklist, ChecklistChange, ChecklistItem
from tests.checklists.test_read_lane import same
from tests.conftest import Api

pytestmark = pytest.mark.django_db

HEADERS = ("Content-Type", "ETag", "Retry-After")
FORGED = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJub2JvZHkifQ.c2lnbmF0dXJl"


def both(api: Api, item_id: str, body, *, issue_id: str = "10001", method: str = "patch", **headers: str) -> tuple:
    """The same request through the lane and through ninja's own view of the route (no middleware on either). A body
    that is not bytes is sent as JSON."""
    answers = []
    for view in (write_lane.item_write, write_lane.ninja_view):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers.setdefault("content_type", "application/json")
        request = getattr(RequestFactory(), method)(
            api.url(f"/items/{item_id}", issue_id=issue_id),
            data=data,
            HTTP_AUTHORIZATION=api.authorization,
            **api.headers,
            **headers,
        )
        answers.append(view(request, issue_id, item_id))
    return tuple(answers)


def test_the_route_is_the_lanes_and_keeps_ninjas_name_for_metrics():
    match = resolve("/api/v1/issues/10001/checklist/items/6f2c56a4-7f3b-4a43-9a64-2f4b8f1f2d6e")
    assert match.func is write_lane.item_write
    assert match.route == "api/v1/issues/<issue_id>/checklist/items/<item_id>"  # the label /metrics counts


def test_a_patch_answers_alike_and_writes_once(client, tenant):
    api = Api(client, tenant)
    item_id = api.add("one").json()["id"]
    # The lane writes version 2; ninja, asked the same after it, finds nothing to change and answers the item as it
    # was stored (MongoDB keeps its time to the millisecond: the written instance's own has microseconds).
    lane, ninja = both(api, item_id, {"status": "done", "text": "renamed"})
    assert lane.status_code == ninja.status_code == 200
    assert [lane.get(h) for h in HEADERS] == [ninja.get(h) for h in HEADERS]
    written, stored = json.loads(lane.content), json.loads(ninja.content)
    assert written.pop("updatedAt")[:23] == stored.pop("updatedAt")[:23] and written == stored
    assert lane["ETag"] == '"2"' and json.loads(lane.content)["text"] == "renamed"
    assert ChecklistChange.objects.filter(action="item_updated").count() == 1
    lane, ninja = both(api, item_id, {"status": "todo"}, HTTP_IF_MATCH='"1"')  # a stale version: 412 from both
    assert same(lane, ninja, headers=HEADERS) == 412
    assert Checklist.objects.get().version == 2


def test_refused_bodies_answer_alike(client, tenant):
    api = Api(client, tenant)
    item_id = api.add("one").json()["id"]
    cases = [
        (b"", {}),  # no body
        (b"{not json", {}),
        (b"[]", {}),  # JSON, not an object
        ({"status": 5}, {}),
        ({"unknown": True}, {}),
        ({"text": ""}, {}),  # the view's own validation
        ({"status": "done"}, {"content_type": "text/plain"}),
    ]
    statuses = []
    for body, headers in cases:
        statuses.append(same(*both(api, item_id, body, **headers), headers=HEADERS))
    assert statuses == [422, 400, 422, 422, 422, 422, 415]
    assert Checklist.objects.get().version == 1


def test_refusals_answer_alike(client, tenant, other_tenant):
    api = Api(client, tenant)
    item_id = api.add("one").json()["id"]
    body = {"status": "done"}
    assert same(*both(Api(client, tenant, authorization="Basic bm9ib2R5"), item_id, body), headers=HEADERS) == 401
    assert same(*both(Api(client, tenant, authorization=FORGED), item_id, body), headers=HEADERS) == 401
    assert same(*both(api, item_id, body, issue_id="not-an-id"), headers=HEADERS) == 404
    assert (
        same(*both(api, item_id, body, issue_id="10002"), headers=HEADERS) == 403
    )  # the token is bound to issue 10001
    assert same(*both(api, "not-an-item", body), headers=HEADERS) == 404
    checklist = Checklist.objects.create(tenant=other_tenant, issue_id="10001", version=1)
    theirs = ChecklistItem.objects.create(tenant=other_tenant, checklist=checklist, text="theirs")
    assert same(*both(api, str(theirs.id), body), headers=HEADERS) == 404  # another site's item
    assert Checklist.objects.get(tenant=tenant).version == 1


def test_the_throttle_answers_alike(client, tenant, settings):
    cache.clear()
    api = Api(client, tenant)
    item_id = api.add("one").json()["id"]
    settings.API_RATE_LIMIT_PER_MINUTE = 3  # the add, then two patches
    assert [api.patch(item_id, status=s).status_code for s in ("done", "todo")] == [200, 200]  # through the lane
    lane, ninja = both(api, item_id, {"status": "done"})
    assert same(lane, ninja, headers=("Content-Type",)) == 429
    assert json.loads(lane.content)["error"] == "rate_limited"
    assert 0 < int(lane["Retry-After"]) <= 60 and 0 < int(ninja["Retry-After"]) <= 60


def test_other_methods_are_ninjas(client, tenant):
    api = Api(client, tenant)
    item_id = api.add("one").json()["id"]
    response = api.call("put", api.url(f"/items/{item_id}"), {"text": "x"})
    assert response.status_code == 405 and set(response["Allow"].split(", ")) == {"PATCH", "DELETE"}
    assert api.delete(item_id).status_code == 204


def test_the_lane_takes_the_route_as_ninja_declares_it():
    # What the lane repeats of ninja's declaration: one method, the API's own credential check and throttles (ninja
    # gives a route that declares none the API's), no decorators.
    operation = item_update._ninja_operation
    assert operation.methods == ["PATCH"]
    assert operation.auth_param is NOT_SET and operation.throttle_param is NOT_SET
    assert api.auth == [API_AUTH] or api.auth is API_AUTH
    assert list(api.throttle) == write_lane.THROTTLES
    assert not getattr(operation, "_run_decorators", [])


BODIES = [
    {"status": "done"},
    {"text": "x", "dueDate": None, "assigneeAccountId": None},
    {"dueDate": "2026-12-24", "position": 3, "mandatory": False, "isHeader": True, "visibleToCustomer": None},
    {"status": 5},
    {"position": True},
    {"position": "3"},
    {"mandatory": 1},
    {"unknown": 1},
    [],
    "done",
]


@pytest.mark.parametrize("body", BODIES)
def test_the_lane_takes_a_body_as_the_routes_schema_does(body):
    request = RequestFactory().patch("/", data=json.dumps(body).encode(), content_type="application/json")
    data = write_lane._data(request)
    try:
        expected = ItemPatchIn.model_validate(body)
    except ValidationError:
        assert data is None  # handed to ninja, which answers its 422
        return
    # What the route's view hands the service from ninja's ItemPatchIn: the same names, values and types.
    fields = api_module._fields(expected)
    assert data == fields
    assert {name: type(value) for name, value in data.items()} == {name: type(v) for name, v in fields.items()}
