"""Per-item preconditions (If-Match: "item-<id>-<version>") beside the contract's checklist version, and the
conditional read (If-None-Match, 304) that open panels poll with: checklists/preconditions.py, checklists/live.py."""

import re
import time as real_time
import uuid

import pytest

from checklists.models import Checklist, ChecklistItem
from tests.conftest import Api

pytestmark = pytest.mark.django_db


def tag(item: dict) -> str:
    return f'"item-{item["id"]}-{item["version"]}"'


def patch(api: Api, item_id, if_match: str, **fields):
    return api.client.patch(
        api.url(f"/items/{item_id}"),
        data=fields,
        content_type="application/json",
        HTTP_AUTHORIZATION=api.authorization,
        HTTP_IF_MATCH=if_match,
    )


def delete(api: Api, item_id, if_match: str):
    return api.client.delete(api.url(f"/items/{item_id}"), HTTP_AUTHORIZATION=api.authorization, HTTP_IF_MATCH=if_match)


@pytest.fixture
def two(api):
    """A checklist of two items, as a panel loaded it: (first, second, checklist version)."""
    api.add("Build")
    api.add("Deploy")
    loaded = api.get().json()
    first, second = loaded["items"]
    assert first["version"] == second["version"] == 1
    return first, second, loaded["version"]


def test_two_people_editing_two_items_both_succeed(api, client, tenant, two):
    first, second, version = two
    bob = Api(client, tenant, account_id="557058:bob")
    mine = patch(api, first["id"], tag(first), status="done")
    theirs = patch(bob, second["id"], tag(second), text="Deploy to EU")
    assert mine.status_code == 200, mine.content
    assert theirs.status_code == 200, theirs.content
    assert mine.json()["version"] == theirs.json()["version"] == 2
    assert int(mine["ETag"].strip('"')) == version + 1
    assert int(theirs["ETag"].strip('"')) == version + 2  # the checklist version still bumps on every write
    stored = {i.text: (i.status, i.version) for i in ChecklistItem.objects.all()}
    assert stored == {"Build": ("done", 2), "Deploy to EU": ("todo", 2)}
    # A delete conditional on its item is not stopped by the other item's change either.
    assert delete(api, first["id"], f'"item-{first["id"]}-2"').status_code == 204
    assert Checklist.objects.get().version == version + 3


def test_the_same_item_changed_answers_412_with_the_current_item(api, client, tenant, two):
    first, _, version = two
    bob = Api(client, tenant, account_id="557058:bob")
    assert patch(bob, first["id"], tag(first), text="Build twice").status_code == 200
    response = patch(api, first["id"], tag(first), text="Build once")
    assert response.status_code == 412
    body = response.json()
    assert body["error"] == "precondition_failed"
    assert "If-Match" in body["detail"]
    assert body["currentVersion"] == version + 1
    assert body["currentItem"]["id"] == first["id"]
    assert body["currentItem"]["text"] == "Build twice"
    assert body["currentItem"]["version"] == 2
    assert ChecklistItem.objects.get(id=first["id"]).text == "Build twice"
    assert Checklist.objects.get().version == version + 1  # nothing written, no version bump
    # The delete of a changed item is refused the same way, and deletes nothing.
    assert delete(api, first["id"], tag(first)).status_code == 412
    assert ChecklistItem.objects.filter(id=first["id"]).exists()
    # With the current item's tag the write goes through.
    assert patch(api, first["id"], tag(body["currentItem"]), text="Build once").status_code == 200


def test_an_item_deleted_meanwhile_answers_412_with_no_current_item(api, client, tenant, two):
    first, _, _ = two
    assert Api(client, tenant, account_id="557058:bob").delete(first["id"]).status_code == 204
    response = patch(api, first["id"], tag(first), status="done")
    assert response.status_code == 412
    assert response.json()["currentItem"] is None
    assert "deleted" in response.json()["detail"]


def test_a_stale_checklist_version_is_still_412_as_the_contract_says(api, two):
    first, second, version = two
    assert patch(api, second["id"], tag(second), status="done").status_code == 200
    response = api.patch(first["id"], version=version, status="done")  # If-Match: "<checklist version>"
    assert response.status_code == 412
    assert response.json()["currentVersion"] == version + 1
    assert ChecklistItem.objects.get(id=first["id"]).status == "todo"
    assert api.patch(first["id"], version=version + 1, status="done").status_code == 200
    assert Checklist.objects.get().version == version + 2


def test_moves_do_not_change_an_items_version_but_text_mode_edits_do(api, two):
    first, second, _ = two
    response = api.call("put", api.url("/order"), {"itemIds": [second["id"], first["id"]]})
    assert response.status_code == 200
    assert [i["version"] for i in response.json()["items"]] == [1, 1]
    assert patch(api, first["id"], tag(first), status="done").status_code == 200
    assert api.put_text("- [x] Build again\n- [ ] Deploy\n").status_code == 200
    assert patch(api, first["id"], f'"item-{first["id"]}-2"', status="todo").status_code == 412


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        '"item-123-1"',
        '"item-{id}"',
        '"item-{id}-1',
        '"item-{id}-x"',
        '"7", "8"',
        '"item-{id}-99999999999999"',
        "-1",
    ],
)
def test_garbage_if_match_is_400_naming_the_header(api, two, value):
    first, _, version = two
    response = patch(api, first["id"], value.format(id=first["id"]), status="done")
    assert response.status_code == 400, response.content
    assert "If-Match" in response.json()["fields"]
    assert Checklist.objects.get().version == version


def test_forged_item_tags_change_nothing(api, tenant, other_tenant, two):
    first, second, version = two
    # Another item's tag on this item: 412 naming If-Match, with this item's current state.
    response = patch(api, first["id"], tag(second), status="done")
    assert response.status_code == 412
    assert "If-Match" in response.json()["detail"]
    assert response.json()["currentItem"]["id"] == first["id"]
    # A version the item never had.
    assert patch(api, first["id"], f'"item-{first["id"]}-7"', status="done").status_code == 412
    # An item tag on a write that is not of one item.
    response = api.client.post(
        api.url("/items"),
        data={"text": "x"},
        content_type="application/json",
        HTTP_AUTHORIZATION=api.authorization,
        HTTP_IF_MATCH=tag(first),
    )
    assert response.status_code == 400
    assert "If-Match" in response.json()["fields"]
    # Another site's item, with its own (matching) tag: 404 as ever, nothing about it revealed.
    theirs = Checklist.objects.create(tenant=other_tenant, issue_id="10001")
    item = ChecklistItem.objects.create(tenant=other_tenant, checklist=theirs, text="secret")
    response = patch(api, item.id, f'"item-{item.id}-1"', status="done")
    assert response.status_code == 404
    assert b"secret" not in response.content
    assert patch(api, uuid.uuid4(), f'"item-{uuid.uuid4()}-1"', status="done").status_code == 404
    assert ChecklistItem.objects.filter(status="done").count() == 0
    assert Checklist.objects.get(tenant=tenant).version == version


def conditional_get(api, etag: str):
    return api.client.get(api.url(), HTTP_AUTHORIZATION=api.authorization, HTTP_IF_NONE_MATCH=etag)


def test_a_poll_answers_304_until_something_changes(api, two):
    _, second, version = two
    unchanged = conditional_get(api, f'"{version}"')
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged["ETag"] == f'"{version}"'
    # Never stored by a browser: its own revalidation would get our 304 and show a stored copy to another user.
    assert unchanged["Cache-Control"] == api.get()["Cache-Control"] == "private, no-store"
    assert conditional_get(api, f'W/"{version}"').status_code == 304
    assert patch(api, second["id"], tag(second), status="done").status_code == 200
    changed = conditional_get(api, f'"{version}"')
    assert changed.status_code == 200
    assert changed["ETag"] == f'"{version + 1}"'
    assert changed.json()["items"][1]["status"] == "done"


@pytest.fixture
def mid_minute(monkeypatch):
    """The throttles' clock, held in the middle of one minute, so no rate window ends during the test."""

    class Clock:
        now = (real_time.time() // 60) * 60 + 30

        @classmethod
        def time(cls):
            return cls.now

    monkeypatch.setattr("checklists.api.time", Clock)
    monkeypatch.setattr("checklists.live.time", Clock)


def test_polls_have_their_own_budget_and_leave_the_users_writes_alone(mid_minute, api, settings, two):
    first, _, version = two
    settings.API_RATE_LIMIT_PER_MINUTE = 3  # the fixture's 3 calls used it up...
    settings.API_POLL_RATE_PER_MINUTE = 5
    for _ in range(5):
        assert conditional_get(api, f'"{version}"').status_code == 304
    limited = conditional_get(api, f'"{version}"')
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"
    settings.API_RATE_LIMIT_PER_MINUTE = 4  # ...and this leaves room for exactly one more call, untouched by polls
    assert patch(api, first["id"], tag(first), status="done").status_code == 200
    assert api.get().status_code == 429


def test_a_poll_answered_in_full_is_charged_to_the_shared_budget_too(mid_minute, api, settings, two):
    # A made-up ETag never matches: each such "poll" is a full read, and full reads have one budget, whatever the
    # header says. Real polls (304s) still spend only their own.
    _, _, version = two
    settings.API_RATE_LIMIT_PER_MINUTE = 5  # the fixture's 3 calls leave room for 2 more
    settings.API_POLL_RATE_PER_MINUTE = 100
    for _ in range(2):
        assert conditional_get(api, '"bogus"').status_code == 200
    limited = conditional_get(api, '"bogus"')
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    assert b"items" not in limited.content
    assert conditional_get(api, f'"{version}"').status_code == 304  # a real poll still answers
    assert api.get().status_code == 429


def test_the_document_declares_item_preconditions_and_the_conditional_read(client):
    document = client.get("/api/v1/openapi.json").json()
    paths = document["paths"]
    item_tag = '"item-0b6c2f9e-8a4d-4c4e-9f7a-2d1e5b3c4a10-3"'
    for method in ("patch", "delete"):
        header = [p for p in paths["/api/v1/issues/{issue_id}/checklist/items/{item_id}"][method]["parameters"]]
        if_match = next(p for p in header if p["name"] == "If-Match")
        assert re.fullmatch(if_match["schema"]["pattern"].strip("^$"), item_tag), method
        assert re.fullmatch(if_match["schema"]["pattern"].strip("^$"), '"7"'), method
    create = paths["/api/v1/issues/{issue_id}/checklist/items"]["post"]["parameters"]
    assert not re.fullmatch(next(p for p in create if p["name"] == "If-Match")["schema"]["pattern"], item_tag)
    read = paths["/api/v1/issues/{issue_id}/checklist"]["get"]
    assert [p["name"] for p in read["parameters"] if p["in"] == "header"] == ["If-None-Match"]
    assert read["responses"]["304"]["headers"]["ETag"]["required"] is True
    schemas = document["components"]["schemas"]
    assert "version" in schemas["ItemOut"]["required"]
    assert "currentItem" in schemas["ConflictOut"]["properties"]
