"""Attacks on the checklist's doors around the item API: the service portal's customer view, the MCP endpoint's
answers, and the workflow post function's execution keys."""

import json

import pytest

from checklists.models import Checklist, ChecklistItem
from checklists.services import Actor, checklist_replace_text
from devhost.keys import connect_token
from tenants.site_tokens import site_token_create
from tests.conftest import fit, forge_installed, issue_ref, on_standin

pytestmark = pytest.mark.django_db

CUSTOMER_FIELDS = {"text", "textHtml", "isHeader", "status", "statusName", "done"}


def test_the_forge_portal_answer_holds_what_a_customer_may_see_and_nothing_else(client, api, standin, settings):
    """README: the portal shows the visible items "and nothing else of the checklist". The Forge portal's read sent
    each item whole: the agent it is assigned to, its due date, mandatory flag, ids and timestamps."""
    api.put_text("## Setup\n- [x] reset your password {@557058:agent-bob due:2026-12-01 customer}\n- [ ] internal\n")
    standin.system_tokens.add("system-token-portal")
    forge_installed(client, standin, settings, "system-token-portal")  # the app's token, for the key's lookup
    context = {
        "cloudId": "cloud-portal",
        "siteUrl": "https://forge-site.atlassian.net",
        "extension": {"request": {"key": "DEMO-1", "typeId": "1"}, "portal": {"id": "1"}},
    }
    token = fit(standin, settings, issue=None, module_key="herochecklist-portal", context=context)
    forge_site_panel = fit(standin, settings)  # the Forge site's agent writes the same checklist there
    written = client.put(
        "/api/v1/issues/10001/checklist/text",
        data=api.get("/text").content,
        content_type="text/plain",
        HTTP_AUTHORIZATION=f"Bearer {forge_site_panel}",
        HTTP_X_FORGE_OAUTH_USER=standin.user_token("557058:forge-user"),
    )
    assert written.status_code == 200, written.content
    response = client.get(
        "/api/v1/portal/checklist",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [i["text"] for i in body["items"]] == ["Setup", "reset your password"]
    assert all(set(item) == CUSTOMER_FIELDS for item in body["items"]), body["items"]
    assert "agent-bob" not in response.content.decode() and "2026-12-01" not in response.content.decode()
    assert body["items"][1] | {"textHtml": None} == {
        "text": "reset your password",
        "textHtml": None,
        "isHeader": False,
        "status": "done",
        "statusName": "Done",
        "done": True,
    }
    assert body["summary"] == {"done": 1, "total": 1}


def _mcp_call(client, token, name, arguments):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    response = client.post(
        "/mcp",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT="application/json, text/event-stream",
    )
    assert response.status_code == 200, response.content
    return response.json()["result"]


def test_an_mcp_refusal_of_one_field_says_no_more_than_that(client, api, tenant):
    """Each refusal of a tool ended in "; and -1 more": the count of unnamed fields read an absent errorCount as 0."""
    api.put_text("- [ ] one\n")
    token = site_token_create(tenant=tenant, name="Agent", scope="write", created_by="557058:alice")[1]
    refusals = [
        _mcp_call(client, token, "set_item_status", {"issue_key": "DEMO-1", "item": "one", "status": "nope"}),
        _mcp_call(client, token, "add_items", {"issue_key": "DEMO-1", "text": "x" * 2001}),
        _mcp_call(client, token, "apply_template", {"issue_key": "DEMO-1", "template": "t", "mode": "sideways"}),
    ]
    messages = [r["content"][0]["text"] for r in refusals]
    assert all(r["isError"] for r in refusals)
    assert messages[0].endswith(
        "Invalid input: status: must be one of todo, in_progress, done, skipped, blocked or a status of this site"
    ), messages
    assert not any("more" in m for m in messages), messages


def _post_function(client, tenant, body: bytes):
    path = "/workflow/post-function"
    token = connect_token(
        secret=tenant.shared_secret, client_key=tenant.client_key, method="POST", path=path, account_id=None
    )
    return client.post(path, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}")


def test_one_sites_post_function_never_passes_for_anothers(client, tenant, other_tenant, standin):
    """The execution key (Jira's retry of one delivery sends the same body) was not per site: two sites' transitions
    with the same body (issue 10001 and transition 21 are the first of every new site) ran once between them."""
    on_standin(other_tenant, standin)
    for site in (tenant, other_tenant):
        checklist_replace_text(tenant=site, issue=issue_ref(), actor=Actor("557058:alice"), text="- [x] step\n")
    body = json.dumps(
        {
            "configuration": {"value": json.dumps({"action": "reset"})},
            "issue": {"id": "10001", "key": "DEMO-1"},
            "transition": {"transitionId": 21, "transitionName": "Reopen"},
        }
    ).encode()
    assert [_post_function(client, site, body).status_code for site in (tenant, other_tenant)] == [204, 204]
    items = {
        site.client_key: ChecklistItem.objects.filter(checklist=Checklist.objects.get(tenant=site))
        for site in (tenant, other_tenant)
    }
    assert {key: [i.status for i in rows] for key, rows in items.items()} == {
        tenant.client_key: ["todo"],
        other_tenant.client_key: ["todo"],
    }
    # A retry of one site's delivery still runs once: the reset is not done again over a later tick.
    items[tenant.client_key].update(status="done")
    assert _post_function(client, tenant, body).status_code == 204
    assert [i.status for i in items[tenant.client_key]] == ["done"]
