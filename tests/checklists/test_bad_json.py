"""Every door of the checklist app that reads a JSON body reads it with core.jsonbody: a body that is not JSON (bytes,
not UTF-8, nested a thousand deep) is a 400 naming `body` (MCP: JSON-RPC's parse error), never a 500."""

import pytest
from django.conf import settings

from checklists.models import ChecklistItem, Template
from devhost.keys import connect_token
from tenants.models import SiteTokenUse
from tenants.site_tokens import site_token_create
from tests.conftest import BAD_JSON, NOT_JSON, fit

pytestmark = pytest.mark.django_db


@pytest.fixture(params=BAD_JSON.values(), ids=BAD_JSON.keys())
def bad(request):
    return request.param


@pytest.mark.parametrize(
    "method, suffix",
    [("post", "/items"), ("patch", "/items/00000000-0000-0000-0000-000000000000"), ("put", "/order")],
)
def test_the_api_names_the_body(api, bad, method, suffix):
    response = api.call(method, api.url(suffix), bad, raw=True)
    assert response.status_code == 400, response.content
    assert response.json() == NOT_JSON
    assert not ChecklistItem.objects.exists()


def test_the_api_names_the_body_of_templates_too(api, bad):
    for path in ("/api/v1/templates", api.url("/apply-template")):
        response = api.call("post", path, bad, raw=True)
        assert (response.status_code, response.json()) == (400, NOT_JSON)
    assert not Template.objects.exists()


def _connect(client, standin, path, data):
    token = connect_token(
        secret=standin.shared_secret, client_key=standin.client_key, method="POST", path=path, account_id=None
    )
    return client.post(path, data=data, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}")


@pytest.mark.parametrize(
    "path",
    [
        "/connect/webhooks/issue-deleted",
        "/connect/webhooks/issue-created",
        "/connect/webhooks/issuelink-created",
        "/connect/webhooks/issue-updated",
        "/workflow/post-function",
    ],
)
def test_connect_webhooks_name_the_body(client, tenant, standin, bad, path):
    response = _connect(client, standin, path, bad)
    assert (response.status_code, response.json()) == (400, NOT_JSON)


@pytest.mark.parametrize(
    "path, module",
    [
        ("/forge/events/issue-deleted", "herochecklist-issue-deleted"),
        ("/forge/events/issue-created", "herochecklist-issue-created"),
        ("/forge/events/issue-updated", "herochecklist-issue-updated"),
        ("/forge/workflow/reset-statuses", "herochecklist-reset-statuses"),
        ("/forge/workflow/apply-template", "herochecklist-apply-template"),
    ],
)
def test_forge_triggers_name_the_body(client, standin, bad, path, module):
    token = fit(standin, settings, module_key=module, principal=None, issue=None)
    response = client.post(path, data=bad, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert (response.status_code, response.json()) == (400, NOT_JSON)


def test_the_section_key_door_names_the_body(client, bad):
    response = client.post("/workflow/section-key", data=bad, content_type="application/json")
    assert (response.status_code, response.json()) == (400, NOT_JSON)


def test_a_post_function_configuration_that_is_not_json_is_named(client, tenant, standin):
    issue = b'{"id": "10001"}'
    for value in (b'"{not json"', b'"' + b"[" * 1000 + b"]" * 1000 + b'"', b"[1]", b"7"):
        body = b'{"issue": ' + issue + b', "configuration": {"value": ' + value + b"}}"
        response = _connect(client, standin, "/workflow/post-function", body)
        assert response.status_code == 400
        assert list(response.json()["fields"]) == ["configuration.value"], value  # not "action": it was not read


def test_the_timing_beacon_names_the_body(client, tenant, bad):
    response = client.post("/telemetry/client-timings", data=bad, content_type="text/plain")
    assert (response.status_code, response.json()) == (400, NOT_JSON)


def test_mcp_answers_json_rpcs_parse_error(client, tenant, bad):
    token = site_token_create(tenant=tenant, name="Agent", scope="write", created_by="557058:alice")[1]
    response = client.post(
        "/mcp",
        data=bad,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT="application/json, text/event-stream",
    )
    assert response.status_code == 400
    assert response.json() == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
    assert SiteTokenUse.objects.filter(action="mcp (unreadable)").count() == 1


def test_good_json_still_passes(api):
    assert api.add("fine").status_code == 201
