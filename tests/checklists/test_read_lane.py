"""The checklist read's own lane (checklists/read_lane.py) answers as ninja's dispatch of the same route does: each
outcome is asked of both, with the same request, and the answers compared."""

import json

import pytest
from django.core.cache import cache
from django.test import RequestFactory
from django.urls import resolve
from ninja.constants import NOT_SET

from checklists import read_lane
from checklists.api import API_AUTH, api, checklist_get
from tests.conftest import Api

pytestmark = pytest.mark.django_db

ITEMS = "# Ship it\n- [ ] one {@557058:bob}\n- [x] two\n"
FORGED = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJub2JvZHkifQ.c2lnbmF0dXJl"


def both(api: Api, issue_id: str = "10001", **headers: str) -> tuple:
    """The same GET through the lane and through ninja's own view of the route (no middleware on either)."""
    answers = []
    for view in (read_lane.checklist_read, read_lane.ninja_view):
        request = RequestFactory().get(
            api.url(issue_id=issue_id), HTTP_AUTHORIZATION=api.authorization, **api.headers, **headers
        )
        answers.append(view(request, issue_id))
    return tuple(answers)


def same(lane, ninja, *, headers=("Content-Type", "ETag", "Cache-Control")) -> int:
    assert lane.status_code == ninja.status_code
    assert lane.content == ninja.content
    assert [lane.get(h) for h in headers] == [ninja.get(h) for h in headers]
    return lane.status_code


def test_the_route_is_the_lanes_and_keeps_ninjas_name_for_metrics():
    match = resolve("/api/v1/issues/10001/checklist")
    assert match.func is read_lane.checklist_read
    assert match.route == "api/v1/issues/<issue_id>/checklist"  # the label /metrics counts requests under


def test_a_read_and_a_poll_answer_alike(client, tenant):
    api = Api(client, tenant)
    assert api.put_text(ITEMS).status_code == 200
    lane, ninja = both(api)
    assert same(lane, ninja) == 200
    body = json.loads(lane.content)
    assert [i["text"] for i in body["items"]] == ["Ship it", "one", "two"] and body["permissions"]["edit"] is True
    lane, ninja = both(api, HTTP_IF_NONE_MATCH=f'"{body["version"]}"')
    assert same(lane, ninja) == 304


def test_refusals_answer_alike(client, tenant):
    api = Api(client, tenant)
    api.put_text(ITEMS)
    assert same(*both(Api(client, tenant, authorization="Basic bm9ib2R5"))) == 401  # no credential of ours
    assert same(*both(Api(client, tenant, authorization=FORGED))) == 401
    assert same(*both(api, issue_id="not-an-id")) == 404
    assert same(*both(api, issue_id="10002")) == 403  # the token is bound to issue 10001


def test_the_throttle_answers_alike(client, tenant, settings):
    cache.clear()
    api = Api(client, tenant)
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    assert [api.get().status_code for _ in range(2)] == [200, 200]  # through the whole stack: the lane
    lane, ninja = both(api)
    assert same(lane, ninja, headers=("Content-Type",)) == 429
    assert json.loads(lane.content)["error"] == "rate_limited"
    assert 0 < int(lane["Retry-After"]) <= 60 and 0 < int(ninja["Retry-After"]) <= 60


def test_other_methods_are_ninjas(client, tenant):
    api = Api(client, tenant)
    response = api.call("post", api.url(), {"text": "x"})
    assert response.status_code == 405 and response["Allow"] == "GET"


def test_the_lane_takes_the_route_as_ninja_declares_it():
    # What the lane repeats of ninja's declaration: one method, the API's own credential check, no decorators.
    operation = checklist_get._ninja_operation
    assert operation.methods == ["GET"]
    assert operation.auth_param is NOT_SET  # so ninja applies the API's: API_AUTH, which the lane calls
    assert api.auth == [API_AUTH] or api.auth is API_AUTH
    assert not getattr(operation, "_run_decorators", [])
