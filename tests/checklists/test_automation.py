"""The calls Jira Automation rules make with a site token: add items by issue key, set a status by item text or id,
apply a template by name. The key is resolved through the stand-in Jira, as the app."""

import pytest

from checklists.models import Checklist, Template
from tenants.site_tokens import site_token_create
from tests.conftest import on_standin

pytestmark = pytest.mark.django_db

BASE = "/api/v1/automation/issues"


@pytest.fixture
def token(tenant):
    return site_token_create(tenant=tenant, name="Automation", scope="write", created_by="557058:alice")[1]


def post(client, token, path, body, **headers):
    return client.post(
        f"{BASE}/{path}", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}", **headers
    )


def texts(body):
    return [(i["text"], i["status"]) for i in body["items"]]


def test_add_items_set_status_and_apply_a_template_by_key(client, token, tenant, standin):
    added = post(client, token, "DEMO-1/items", {"text": "- [ ] build\ndeploy\n- [x] tag"})
    assert added.status_code == 200, added.content
    body = added.json()
    assert (body["issueId"], body["issueKey"], body["version"]) == ("10001", "DEMO-1", 1)
    assert texts(body) == [("build", "todo"), ("deploy", "todo"), ("tag", "done")]
    assert any(r.path == "/rest/api/3/issue/DEMO-1" and r.authorization_ok for r in standin.recorded)

    by_text = post(client, token, "DEMO-1/items/status", {"item": " deploy ", "status": "in_progress"})
    assert by_text.status_code == 200 and by_text.json()["status"] == "in_progress"
    build_id = body["items"][0]["id"]
    by_id = post(client, token, "DEMO-1/items/status", {"item": build_id, "status": "done"})
    assert by_id.json()["id"] == build_id and by_id.json()["status"] == "done"

    Template.objects.create(tenant=tenant, name="Release", text="- [ ] announce\n")
    applied = post(client, token, "DEMO-1/apply-template", {"template": "Release"})
    assert applied.status_code == 200
    assert texts(applied.json()) == [
        ("build", "done"),
        ("deploy", "in_progress"),
        ("tag", "done"),
        ("announce", "todo"),
    ]
    replaced = post(client, token, "DEMO-1/apply-template", {"template": "Release", "mode": "replace"})
    assert texts(replaced.json()) == [("announce", "todo")]


@pytest.mark.parametrize(
    "path, body, status, field",
    [
        ("DEMO-1/items", {"text": "- [?] odd box"}, 422, "line 1"),
        ("DEMO-1/items", {"text": "x" * 2001}, 422, "line 1"),
        ("DEMO-1/items", {"text": "\n".join(f"- [ ] {n}" for n in range(501))}, 422, "text"),
        ("DEMO-1/items", {"text": 5}, 422, "text"),
        ("DEMO-1/items", {"text": "a", "extra": 1}, 422, "extra"),
        ("DEMO-1/items/status", {"item": "a", "status": "finished"}, 422, "status"),
        ("DEMO-1/items/status", {"item": "", "status": "done"}, 422, "item"),
        ("DEMO-1/apply-template", {"template": "Release", "mode": "merge"}, 422, "mode"),
    ],
)
def test_garbage_is_refused_and_changes_nothing(client, token, path, body, status, field):
    response = post(client, token, path, body)
    assert response.status_code == status, response.content
    assert field in response.json()["fields"]
    assert not Checklist.objects.filter(version__gt=0).exists()


def test_oversized_body_is_413(client, token):
    response = post(client, token, "DEMO-1/items", {"text": "- [ ] x\n" * 150_000})
    assert response.status_code == 413


def test_unknown_and_malformed_keys_items_and_templates_are_404(client, token):
    assert post(client, token, "DEMO-999/items", {"text": "a"}).status_code == 404
    assert post(client, token, "demo-1/items", {"text": "a"}).status_code == 404
    assert post(client, token, "DEMO-1%0A/items", {"text": "a"}).status_code == 404
    assert post(client, token, "DEMO-1/items/status", {"item": "nothing", "status": "done"}).status_code == 404
    assert post(client, token, "DEMO-1/apply-template", {"template": "Nope"}).status_code == 404
    assert not Checklist.objects.exists()


def test_two_items_of_the_same_text_need_the_id(client, token):
    post(client, token, "DEMO-1/items", {"text": "same\nsame"})
    response = post(client, token, "DEMO-1/items/status", {"item": "same", "status": "done"})
    assert response.status_code == 409


def test_another_sites_template_and_checklist_are_out_of_reach(client, token, tenant, other_tenant, standin):
    Template.objects.create(tenant=other_tenant, name="B only", text="- [ ] b\n")
    assert post(client, token, "DEMO-1/apply-template", {"template": "B only"}).status_code == 404
    post(client, token, "DEMO-1/items", {"text": "site A item"})
    # Site B's token, on B's own Jira (the stand-in serves both): DEMO-1 there is B's issue, with B's checklist.
    on_standin(other_tenant, standin)
    _, other = site_token_create(tenant=other_tenant, name="B", scope="write", created_by="557058:charlie")
    assert post(client, other, "DEMO-1/items/status", {"item": "site A item", "status": "done"}).status_code == 404
    added = post(client, other, "DEMO-1/items", {"text": "site B item"})
    assert texts(added.json()) == [("site B item", "todo")]
    mine = client.get("/api/v1/issues/10001/checklist", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert texts(mine) == [("site A item", "todo")]


def test_a_read_token_and_a_forged_token_cannot_write(client, tenant, token):
    _, read = site_token_create(tenant=tenant, name="Reader", scope="read", created_by="557058:alice")
    assert post(client, read, "DEMO-1/items", {"text": "a"}).status_code == 403
    assert post(client, token[:-4] + "AAAA", "DEMO-1/items", {"text": "a"}).status_code == 401
    assert not Checklist.objects.exists()


def test_jira_unreachable_is_503_and_nothing_is_written(client, token, standin):
    standin.fail_next = [503, 503]
    response = post(client, token, "DEMO-1/items", {"text": "a"})
    assert response.status_code == 503 and response.json()["error"] == "jira_unavailable"
    assert response["Retry-After"] == "30"
    assert not Checklist.objects.exists()
