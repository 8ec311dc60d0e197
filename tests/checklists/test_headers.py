"""A header is a title only, on every write path: text mode writes it as `## text`, so nothing else may ride on it."""

import pytest

from checklists.models import ChecklistChange, ChecklistItem

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "field,value", [("status", "done"), ("assigneeAccountId", "557058:bob"), ("dueDate", "2026-12-01")]
)
def test_a_header_created_with_a_status_assignee_or_due_date_is_refused_naming_the_field(api, field, value):
    response = api.add("Release", isHeader=True, **{field: value})
    assert response.status_code == 422
    assert field in response.json()["fields"]
    assert not ChecklistItem.objects.exists()


def test_setting_a_status_on_an_existing_header_is_refused_and_changes_nothing(api):
    header = api.add("Release", isHeader=True).json()
    version = api.get().json()["version"]
    response = api.patch(header["id"], status="done")
    assert response.status_code == 422 and "status" in response.json()["fields"]
    after = api.get().json()
    assert after["version"] == version and after["items"][0]["status"] == "todo"


def test_an_item_that_becomes_a_header_drops_its_status_assignee_and_due_date_with_history(api):
    item = api.add("Release", assigneeAccountId="557058:bob", dueDate="2026-12-01").json()
    api.patch(item["id"], status="done")
    response = api.patch(item["id"], isHeader=True)
    assert response.status_code == 200
    body = response.json()
    assert body["isHeader"] is True and body["status"] == "todo" and body["mandatory"] is False
    assert body["assigneeAccountId"] is None and body["dueDate"] is None
    change = ChecklistChange.objects.filter(item_id=item["id"]).order_by("-version").first()
    assert change.changes["status"] == {"before": "done", "after": "todo"}


def test_a_header_turned_back_into_an_item_may_take_a_status_in_the_same_write(api):
    header = api.add("Release", isHeader=True).json()
    response = api.patch(header["id"], isHeader=False, status="done")
    assert response.status_code == 200 and response.json()["status"] == "done"


def test_text_round_trip_is_a_no_op_for_checklists_with_headers_written_through_json(api):
    api.add("Steps", isHeader=True)
    item = api.add("one", dueDate="2026-12-01").json()
    api.patch(item["id"], status="done")
    before = api.get().json()
    response = api.put_text(api.get("/text").content.decode())
    assert response.status_code == 200
    assert api.get().json() == before
