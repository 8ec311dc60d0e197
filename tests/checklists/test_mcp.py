"""/mcp through the official `mcp` SDK client against the running app (a live server), with site API tokens."""

import json

import anyio
import httpx2
import pytest
from mcp.client import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver.exceptions import ToolError

from checklists import mcp_server
from checklists.models import Checklist, Template
from core.exceptions import ValidationFailed
from tenants.models import SiteTokenUse
from tenants.site_tokens import site_token_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def app_url(live_server, standin, tenant):
    return f"{live_server.url}/mcp"


def tokens(tenant):
    write = site_token_create(tenant=tenant, name="Agent", scope="write", created_by="557058:alice")[1]
    read = site_token_create(tenant=tenant, name="Reader", scope="read", created_by="557058:alice")[1]
    return write, read


async def _session_calls(url: str, token: str, calls: list[tuple[str, dict]]):
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write, *_),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        listed = await session.list_tools()
        results = [await session.call_tool(name, args) for name, args in calls]
        return [t.name for t in listed.tools], results


def run(url, token, calls):
    return anyio.run(_session_calls, url, token, calls)


def payload(result) -> dict:
    assert not result.is_error, result.content
    return result.structured_content or json.loads(result.content[0].text)


def test_the_tools_through_the_sdk_client(app_url, tenant):
    write, read = tokens(tenant)
    Template.objects.create(tenant=tenant, name="Release", text="- [ ] announce\n")
    names, results = run(
        app_url,
        write,
        [
            ("add_items", {"issue_key": "DEMO-1", "text": "- [ ] build\ndeploy"}),
            ("set_item_status", {"issue_key": "DEMO-1", "item": "deploy", "status": "done"}),
            ("apply_template", {"issue_key": "DEMO-1", "template": "Release"}),
            ("read_checklist", {"issue_key": "DEMO-1"}),
        ],
    )
    assert sorted(names) == ["add_items", "apply_template", "read_checklist", "set_item_status"]
    assert [i["text"] for i in payload(results[0])["items"]] == ["build", "deploy"]
    assert payload(results[1])["status"] == "done"
    final = payload(results[3])
    assert [(i["text"], i["status"]) for i in final["items"]] == [
        ("build", "todo"),
        ("deploy", "done"),
        ("announce", "todo"),
    ]
    assert final["issueKey"] == "DEMO-1" and final["version"] == 3
    actions = set(SiteTokenUse.objects.values_list("action", flat=True))
    assert {"mcp initialize", "mcp tools/list", "mcp tools/call add_items", "mcp tools/call read_checklist"} <= actions

    # A read token reads, and its writes are tool errors that change nothing.
    _, results = run(
        app_url,
        read,
        [("read_checklist", {"issue_key": "DEMO-1"}), ("add_items", {"issue_key": "DEMO-1", "text": "nope"})],
    )
    assert len(payload(results[0])["items"]) == 3
    assert results[1].is_error and "edit" in results[1].content[0].text
    assert Checklist.objects.get().version == 3


def test_garbage_unknown_keys_and_templates_are_tool_errors(app_url, tenant):
    write, _ = tokens(tenant)
    _, results = run(
        app_url,
        write,
        [
            ("add_items", {"issue_key": "DEMO-1", "text": "- [?] bad box"}),
            ("add_items", {"issue_key": "DEMO-999", "text": "a"}),
            ("set_item_status", {"issue_key": "DEMO-1", "item": "a", "status": "finished"}),
            ("apply_template", {"issue_key": "DEMO-1", "template": "Nope"}),
        ],
    )
    assert [r.is_error for r in results] == [True, True, True, True]
    assert "Invalid input" in results[0].content[0].text and "Not found" in results[1].content[0].text
    assert not Checklist.objects.exists()


def test_mcp_refuses_missing_forged_and_revoked_tokens(app_url, tenant):
    write, _ = tokens(tenant)
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    for authorization in ("", "Bearer " + write[:-3] + "AAA", "Bearer hc_nope", f"JWT {write}"):
        response = httpx2.post(app_url, json=initialize, headers={"Authorization": authorization})
        assert response.status_code == 401, authorization
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert not SiteTokenUse.objects.filter(action__startswith="mcp").exists()


def test_a_tool_error_names_at_most_fifty_fields():
    def refuse(auth):
        raise ValidationFailed({f"line {n}": "bad" for n in range(120)})

    token = mcp_server._auth.set(None)
    try:
        with pytest.raises(ToolError) as caught:
            mcp_server._call(refuse)
    finally:
        mcp_server._auth.reset(token)
    message = str(caught.value)
    assert "line 49: bad" in message and "line 50" not in message and message.endswith("; and 70 more")
