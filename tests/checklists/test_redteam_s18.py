"""Red team, session 18: what one low-privileged user of a site can do to everyone else on it, and the doors that
answered an attacker more than they should."""

import json
import time
from datetime import timedelta

import jwt
import pytest
from django.utils import timezone

from checklists.models import Template
from tenants.auth import PANEL_AUDIENCE, PANEL_ISSUER, mint_admin_token, panel
from tenants.models import SiteToken, SiteTokenUse, Tenant, TenantState
from tenants.site_tokens import site_token_create
from tests.checklists.test_attack_surfaces import _mcp_call
from tests.conftest import INSTALLATION, ISSUE, Api, fit, forge_installed, signed_install

pytestmark = pytest.mark.django_db

OTHER_PROJECT = "20000"  # a project of the attacker's own: in Jira Cloud any user may create a team-managed one
MALLORY = "557058:mallory"


@pytest.fixture
def token(tenant):
    return site_token_create(tenant=tenant, name="Automation", scope="write", created_by="557058:alice")[1]


def _automation_apply(client, token, name):
    return client.post(
        "/api/v1/automation/issues/DEMO-1/apply-template",
        data={"template": name},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_a_template_of_another_project_does_not_block_applying_by_name(client, tenant, standin, token):
    """Automation and MCP name a template; only one that may be applied to the issue is a candidate. A template of
    another project cannot be applied to DEMO-1 (its project is 10000), so it cannot make the name ambiguous: before,
    any project admin (anyone, through a team-managed project of their own) broke every rule of the site that
    applies "Release" (409) by creating a "Release" in their own project."""
    Template.objects.create(tenant=tenant, name="Release", text="- [ ] announce\n")  # site-wide, the rules' one
    standin.grant(MALLORY, "project-admin", projects={OTHER_PROJECT}, elsewhere="browse")
    mallory = Api(client, tenant, account_id=MALLORY)
    own = mallory.call(
        "post", "/api/v1/templates", {"name": "Release", "text": "- [ ] pwned", "projectId": OTHER_PROJECT}
    )
    assert own.status_code == 201, own.content

    applied = _automation_apply(client, token, "Release")
    assert applied.status_code == 200, applied.content
    assert [i["text"] for i in applied.json()["items"]] == ["announce"]


@pytest.mark.django_db(transaction=True)  # the MCP SDK runs tools in a worker thread, on a connection of its own
def test_a_template_of_another_project_does_not_block_the_mcp_tool_either(client, tenant, standin, token):
    Template.objects.create(tenant=tenant, name="Release", text="- [ ] announce\n")
    Template.objects.create(tenant=tenant, name="Release", text="- [ ] pwned\n", project_id=OTHER_PROJECT)
    result = _mcp_call(client, token, "apply_template", {"issue_key": "DEMO-1", "template": "Release"})
    assert not result.get("isError"), result
    checklist = result.get("structuredContent") or json.loads(result["content"][0]["text"])
    assert [i["text"] for i in checklist["items"]] == ["announce"]


def test_two_templates_that_both_fit_the_issue_are_still_ambiguous(client, tenant, standin, token):
    Template.objects.create(tenant=tenant, name="Release", text="- [ ] site\n")
    Template.objects.create(tenant=tenant, name="Release", text="- [ ] project\n", project_id=ISSUE["projectId"])
    assert _automation_apply(client, token, "Release").status_code == 409


def test_only_a_template_of_another_project_is_not_found_by_name(client, tenant, standin, token):
    Template.objects.create(tenant=tenant, name="Theirs", text="- [ ] other\n", project_id=OTHER_PROJECT)
    assert _automation_apply(client, token, "Theirs").status_code == 404


# --- the site's app system token --------------------------------------------------------------------------------

SYSTEM_TOKEN = "forge-system-token-" + "s" * 40
PLANTED = "planted-by-a-viewer"


def _forge_doors(client, standin, settings):
    """Every call a Forge Custom UI page makes through @forge/bridge's requestRemote (the panel, the template manager,
    the API tokens page, the service portal, the timing beacon), each with a header that Forge never adds there."""
    planted = {"HTTP_X_FORGE_OAUTH_SYSTEM": PLANTED, "HTTP_X_FORGE_OAUTH_USER": standin.user_token("557058:forge-user")}
    portal = {
        "cloudId": "c",
        "siteUrl": "https://forge-site.atlassian.net",
        "extension": {"request": {"key": "DEMO-1"}},
    }

    def bearer(**kw):
        return {"HTTP_AUTHORIZATION": "Bearer " + fit(standin, settings, **kw), **planted}

    yield client.get("/api/v1/issues/10001/checklist", **bearer())
    yield client.get("/api/v1/templates", **bearer(issue=None, module_key="herochecklist-templates-admin"))
    yield client.get("/api/v1/site-tokens", **bearer(issue=None, module_key="herochecklist-api-tokens"))
    yield client.get(
        "/api/v1/portal/checklist", **bearer(issue=None, module_key="herochecklist-portal", context=portal)
    )
    yield client.post("/telemetry/client-timings", data={"render": 0.5}, content_type="application/json", **bearer())


def test_no_browser_call_replaces_the_sites_app_token(client, standin, settings):
    """requestRemote is not proxied by Forge and carries no OAuth token (Forge's requestRemote reference): an
    x-forge-oauth-system header on these calls is whatever the viewer's browser sent. It was stored as the site's app
    token, so anyone who could open a panel, or a customer on the portal, could break every call the app makes on its
    own (progress property, Automation's key lookup, the portal's read) for the whole site, again on every load."""
    standin.system_tokens.add(SYSTEM_TOKEN)
    forge_installed(client, standin, settings, SYSTEM_TOKEN)
    for response in _forge_doors(client, standin, settings):
        assert response.status_code < 500, response.content
    tenant = Tenant.objects.get(installation_id=INSTALLATION)
    assert tenant.forge_system_token() == SYSTEM_TOKEN


def test_the_invocations_forge_makes_itself_still_bring_a_new_token(client, standin, settings):
    forge_installed(client, standin, settings, SYSTEM_TOKEN)
    forge_installed(client, standin, settings, SYSTEM_TOKEN + "-renewed")
    assert Tenant.objects.get(installation_id=INSTALLATION).forge_system_token() == SYSTEM_TOKEN + "-renewed"


# --- credentials after an uninstall -----------------------------------------------------------------------------


def _site_token_works(client, token):
    return client.get("/api/v1/issues/10001/checklist", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_a_reinstall_does_not_revive_the_site_tokens_of_before_the_uninstall(client, tenant, standin):
    """An uninstall drops the Connect secret for good; the site's API tokens were only refused while it lasted, and
    worked again after a reinstall (the same tenant row): tokens forgotten, or that an admin uninstalled the app to
    cut off, came back without anyone creating them."""
    token = site_token_create(tenant=tenant, name="Automation", scope="write", created_by="557058:alice")[1]
    assert _site_token_works(client, token)
    assert signed_install(client, standin, path="/connect/uninstalled").status_code == 204
    standin.shared_secret = "secret-of-the-reinstall-" + "r" * 30
    assert signed_install(client, standin).status_code == 204
    assert Tenant.objects.get(pk=tenant.pk).state == TenantState.INSTALLED
    assert not _site_token_works(client, token)
    row = SiteToken.objects.get(tenant=tenant)
    assert row.revoked_at is not None and row.revoked_by == "app:uninstalled"
    assert SiteTokenUse.objects.filter(token=row, action="token revoked", actor="app:uninstalled").count() == 1


def test_a_forge_reinstall_does_not_revive_them_either(client, standin, settings):
    forge_installed(client, standin, settings, SYSTEM_TOKEN)
    tenant = Tenant.objects.get(installation_id=INSTALLATION)
    token = site_token_create(tenant=tenant, name="Agent", scope="read", created_by="557058:alice")[1]
    assert _site_token_works(client, token)
    lifecycle = fit(standin, settings, module_key="herochecklist-lifecycle", principal=None, issue=None)
    uninstalled = client.post(
        "/forge/lifecycle",
        data={"eventType": "avi:forge:uninstalled:app"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {lifecycle}",
    )
    assert uninstalled.status_code == 204
    forge_installed(client, standin, settings, SYSTEM_TOKEN)
    assert Tenant.objects.get(pk=tenant.pk).state == TenantState.INSTALLED
    assert not _site_token_works(client, token)


# --- what the MCP door says about a refused message ---------------------------------------------------------------


def _mcp_post(client, token, message):
    return client.post(
        "/mcp",
        data=json.dumps(message),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT="application/json, text/event-stream",
    )


def test_an_mcp_refusal_names_the_fields_not_the_library_or_the_values(client, tenant, token):
    """The SDK answered pydantic's own report: its version (errors.pydantic.dev/2.x), its model names, and each
    value sent, back in the answer. The API and the door's parse error say what is wrong by field, and nothing else."""
    bad_arguments = {"name": "read_checklist", "arguments": {"issue_key": ["<secret-ish value>"]}}
    tool = _mcp_post(client, token, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": bad_arguments})
    envelope = _mcp_post(client, token, {"jsonrpc": "2.0", "id": {"x": "<secret-ish value>"}, "method": 5})
    assert tool.status_code == 200 and envelope.status_code == 400
    for response in (tool, envelope):
        text = response.content.decode()
        assert "pydantic" not in text and "<secret-ish value>" not in text and "input_value" not in text, text
    result = tool.json()["result"]
    assert result["isError"] and result["content"][0]["text"] == (
        "Error executing tool read_checklist: Invalid input: issue_key: must be a valid string"
    )
    assert envelope.json()["error"] == {"code": -32602, "message": "Invalid request: not a JSON-RPC message"}


# --- held: a read-only token writes through no door ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the MCP door's tools run on a connection of their own
def test_a_read_token_writes_through_no_door(client, tenant, standin):
    """Every route and tool that writes, with a read-scope site token: refused, and nothing changed."""
    Template.objects.create(tenant=tenant, name="Release", text="- [ ] announce\n")
    template = Template.objects.get()
    writer = Api(client, tenant)
    item = writer.add("existing").json()
    reader = Api(
        client,
        tenant,
        authorization="Bearer "
        + site_token_create(tenant=tenant, name="Reader", scope="read", created_by="557058:alice")[1],
    )
    automation = "/api/v1/automation/issues/DEMO-1"
    for method, path, body, content_type in [
        ("post", reader.url("/items"), {"text": "x"}, "application/json"),
        ("patch", reader.url(f"/items/{item['id']}"), {"status": "done"}, "application/json"),
        ("delete", reader.url(f"/items/{item['id']}"), None, "application/json"),
        ("put", reader.url("/order"), {"itemIds": [item["id"]]}, "application/json"),
        ("put", reader.url("/text"), b"- [x] existing\n", "text/plain"),
        ("post", reader.url("/apply-template"), {"templateId": str(template.id)}, "application/json"),
        ("post", f"{automation}/items", {"text": "x"}, "application/json"),
        ("post", f"{automation}/items/status", {"item": "existing", "status": "done"}, "application/json"),
        ("post", f"{automation}/apply-template", {"template": "Release"}, "application/json"),
        ("post", "/api/v1/templates", {"name": "Mine", "text": "- [ ] x"}, "application/json"),
        ("patch", f"/api/v1/templates/{template.id}", {"name": "Mine"}, "application/json"),
        ("delete", f"/api/v1/templates/{template.id}", None, "application/json"),
        ("post", "/api/v1/statuses", {"name": "Review"}, "application/json"),
        ("put", "/api/v1/settings/workflow", {"rulesInUse": True}, "application/json"),
        ("post", "/api/v1/site-tokens", {"name": "x", "scope": "write"}, "application/json"),
    ]:
        raw = body if isinstance(body, bytes) or body is None else json.dumps(body)
        response = reader.call(method, path, raw, content_type=content_type, raw=True)
        assert response.status_code == 403, (method, path, response.status_code, response.content)
    token = reader.authorization.removeprefix("Bearer ")
    for name, arguments in [
        ("add_items", {"issue_key": "DEMO-1", "text": "x"}),
        ("set_item_status", {"issue_key": "DEMO-1", "item": "existing", "status": "done"}),
        ("apply_template", {"issue_key": "DEMO-1", "template": "Release"}),
    ]:
        assert _mcp_call(client, token, name, arguments)["isError"], name
    assert [(i["text"], i["status"]) for i in writer.get().json()["items"]] == [("existing", "todo")]
    assert Template.objects.get().name == "Release"


# --- the audit of a token past its rate limit --------------------------------------------------------------------


def test_a_token_past_its_limit_writes_no_audit_row_per_refused_call(client, tenant, settings):
    """Each use of a site token is audited when it authenticates, before the rate limit: refused calls (429) still
    wrote a row each, so the limit bounded nothing a token holder could make the database store. Now at most twice
    the limit's calls a minute are recorded (every admitted one among them), then one row says the token went over
    it; further refusals write nothing, on the API and on /mcp alike."""
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    row, token = site_token_create(tenant=tenant, name="Agent", scope="write", created_by="557058:alice")
    reads = [
        client.get("/api/v1/issues/10001/checklist", HTTP_AUTHORIZATION=f"Bearer {token}").status_code for _ in range(8)
    ]
    listed = [_mcp_post(client, token, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}) for _ in range(3)]
    assert reads == [200, 200, *[429] * 6] and [r.status_code for r in listed] == [429] * 3
    uses = SiteTokenUse.objects.filter(token=row).exclude(action="token created")
    actions = list(uses.order_by("created_at").values_list("action", flat=True))
    assert actions == ["GET /api/v1/issues/<issue_id>/checklist"] * 4 + ["rate limited"], actions


def _panel_token_minted_at(tenant, iat: int) -> str:
    claims = {
        "iss": PANEL_ISSUER,
        "aud": PANEL_AUDIENCE,
        "sub": "557058:alice",
        "tid": str(tenant.id),
        "issue_id": ISSUE["id"],
        "issue_key": ISSUE["key"],
        "pid": ISSUE["projectId"],
        "itid": ISSUE["typeId"],
        "iat": iat,
        "exp": iat + 900,
    }
    return "Bearer " + jwt.encode(claims, panel._panel_key(), algorithm="HS256")


def test_a_panel_token_of_before_an_uninstall_does_not_work_after_the_reinstall(client, tenant, standin):
    """Panel and template-manager tokens are signed with our key and name the site by id, which a reinstall keeps:
    one minted before an uninstall worked again for the rest of its 15 minutes once the site was back."""
    tenant.installed_at = timezone.now() - timedelta(minutes=10)  # installed a while ago
    tenant.save(update_fields=["installed_at"])
    before = Api(client, tenant, authorization=_panel_token_minted_at(tenant, int(time.time()) - 60))
    admin_before = mint_admin_token(tenant=tenant, account_id="557058:alice")
    assert before.get().status_code == 200
    assert signed_install(client, standin, path="/connect/uninstalled").status_code == 204
    standin.shared_secret = "secret-of-the-reinstall-" + "p" * 30
    assert signed_install(client, standin).status_code == 204
    assert before.get().status_code == 401
    tenant.refresh_from_db()  # as the minting host reads the site
    assert Api(client, tenant).get().status_code == 200  # one minted since works
    # The manager's token, minted a minute before the reinstall, likewise (its iat is moved back: same-second stands).
    claims = jwt.decode(admin_before, options={"verify_signature": False})
    stale_admin = jwt.encode({**claims, "iat": claims["iat"] - 60}, panel._panel_key(), algorithm="HS256")
    assert client.get("/api/v1/templates", HTTP_AUTHORIZATION=f"Bearer {stale_admin}").status_code == 401


class _HostClock:
    """time as a host whose clock is `offset` seconds off sees it (the mint reads time.time())."""

    def __init__(self, offset: float):
        self.offset = offset

    def time(self) -> float:
        return time.time() + self.offset


@pytest.mark.parametrize("offset", [-30, 30])
def test_a_token_is_refused_for_the_install_it_was_minted_under_not_for_a_hosts_clock(
    client, tenant, standin, monkeypatch, offset
):
    """The install recorded by one host, tokens minted by another whose clock is half a minute off. By iat against
    installed_at, a host running behind minted tokens refused at once (the panel's swap got another such token), and
    one running ahead minted tokens before the reinstall that passed after it."""
    monkeypatch.setattr(panel, "time", _HostClock(offset))
    before = Api(client, tenant)  # minted under the current install
    admin_before = mint_admin_token(tenant=tenant, account_id="557058:alice")
    standin.shared_secret = "secret-of-the-reinstall-" + "q" * 30
    assert signed_install(client, standin).status_code == 204  # the install, on this host's own clock
    tenant.refresh_from_db()  # as the minting host reads the site
    fresh = Api(client, tenant)
    assert fresh.get().status_code == 200  # minted after the install: stands whatever the clock
    assert before.get().status_code == 401  # minted before it: refused whatever the clock
    assert client.get("/api/v1/templates", HTTP_AUTHORIZATION=f"Bearer {admin_before}").status_code == 401
    admin_after = mint_admin_token(tenant=tenant, account_id="557058:alice")
    assert client.get("/api/v1/templates", HTTP_AUTHORIZATION=f"Bearer {admin_after}").status_code != 401


# --- one budget for every anonymous viewer of a site ---------------------------------------------------------------


def test_one_anonymous_viewer_does_not_spend_every_anonymous_viewers_budget(client, tenant, settings):
    """Viewers Jira does not name (a public issue seen logged out: no `sub`) were all one caller to the limits, per
    site: one anonymous client, or five people with a panel open (its live poll asks once a second), got every
    anonymous viewer of the site 429s. They are counted per network address (the sign-in lockout's, per /64)."""
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    settings.API_POLL_RATE_PER_MINUTE = 2
    anonymous = Api(client, tenant, account_id="")
    url, auth = anonymous.url(), anonymous.authorization

    def read(address, **headers):
        return client.get(url, HTTP_AUTHORIZATION=auth, REMOTE_ADDR=address, **headers).status_code

    assert [read("203.0.113.7") for _ in range(3)] == [200, 200, 429]
    assert read("198.51.100.20") == 200  # another viewer
    version = client.get(url, HTTP_AUTHORIZATION=auth, REMOTE_ADDR="198.51.100.21").json()["version"]
    polls = [read("203.0.113.7", HTTP_IF_NONE_MATCH=f'"{version}"') for _ in range(3)]
    assert polls[-1] == 429
    assert read("198.51.100.20", HTTP_IF_NONE_MATCH=f'"{version}"') in (200, 304)
    assert read("2001:db8:1:2::5") == 200 and read("2001:db8:1:2::6") == 200  # one /64: one caller
    assert read("2001:db8:1:2::7") == 429
    settings.CLIENT_TIMING_RATE_PER_MINUTE = 1  # the timing beacon's budget likewise

    def beacon(address):
        body = json.dumps({"authorization": auth, "render": 0.5})
        return client.post("/telemetry/client-timings", data=body, content_type="text/plain", REMOTE_ADDR=address)

    assert [beacon("203.0.113.7").status_code for _ in range(2)] == [204, 429]
    assert beacon("198.51.100.20").status_code == 204
