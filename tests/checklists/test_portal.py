"""The Jira Service Management portal: items marked visible to customers, and only those, read-only on the request
page; the flag in the item API, the panel's text mode and history. The stand-in serves the portal page."""

import html
import importlib
import re

import httpx
import pytest
from django.apps import apps as django_apps

from checklists.archived import check_archived_record
from checklists.models import Checklist, ChecklistItem, SiteStatus
from core.exceptions import ValidationFailed
from devhost.keys import connect_token

pytestmark = pytest.mark.django_db

CUSTOMER = "qm:a713c8ea-1075-4e30-9d96-891a7d181739:5ad6d3581db05e2a66fa80b"  # a portal-only customer's accountId


def iframe_path(page: str, base_url: str) -> str:
    """Our page as the stand-in Jira frames it (signed URL, qsh), as a path for the test client."""
    src = html.unescape(re.search(r'<iframe id="herochecklist-[a-z]+"[^>]* src="([^"]+)"', page).group(1))
    return src.removeprefix(base_url)


@pytest.fixture
def shared(api):
    """## Setup / reset password (visible) / internal note / ## Internal / secret step."""
    api.put_text(
        "## Setup\n- [x] reset your password {customer}\n- [ ] internal note\n## Internal\n- [ ] secret step\n"
    )
    return api


def test_the_portal_shows_only_customer_visible_items_and_their_headers(client, shared, standin, settings):
    page = httpx.get(f"{standin.base_url}/servicedesk/customer/portal/1/DEMO-1").text
    response = client.get(iframe_path(page, settings.BASE_URL))
    assert response.status_code == 200
    body = response.content.decode()
    assert "reset your password" in body and "Setup" in body and "1 of 1 done" in body
    assert "internal note" not in body and "secret step" not in body and "Internal" not in body
    assert "herochecklist-token" not in body and "<form" not in body  # read-only: no token, nothing to submit
    # Each item and header in its own direction, as in the panel (a Hebrew item reads right to left).
    assert body.count('class="hc-text-cell" dir="auto"') == 2


def test_the_flag_in_the_item_api_text_mode_and_history(shared):
    items = {i["text"]: i for i in shared.get().json()["items"]}
    assert items["reset your password"]["visibleToCustomer"] is True
    assert items["internal note"]["visibleToCustomer"] is False
    patched = shared.patch(items["internal note"]["id"], visibleToCustomer=True)
    assert patched.status_code == 200 and patched.json()["visibleToCustomer"] is True
    history = shared.get("/history").json()[0]
    assert history["changes"] == {"customer_visible": {"before": False, "after": True}}
    text = shared.get("/text").content.decode()
    assert "- [ ] internal note {customer}\n" in text
    version = shared.get().json()["version"]
    assert shared.put_text(text).json()["version"] == version  # GET text then PUT text changes nothing
    created = shared.add("shown at once", visibleToCustomer=True)
    assert created.status_code == 201 and created.json()["visibleToCustomer"] is True


@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_garbage_flag_is_refused(shared, value):
    item = shared.get().json()["items"][1]
    response = shared.patch(item["id"], visibleToCustomer=value)
    assert response.status_code == 422 and "visibleToCustomer" in response.json()["fields"]
    assert shared.get().json()["items"][1]["visibleToCustomer"] is True


def test_the_portal_needs_jiras_signature_and_sees_only_its_site(client, shared, standin, tenant, other_tenant):
    assert client.get("/connect/portal?issueId=10001").status_code == 401
    forged = connect_token(
        secret="not-the-secret-" + "x" * 30,
        client_key=tenant.client_key,
        path="/connect/portal",
        query=[("issueId", "10001")],
    )
    assert client.get(f"/connect/portal?issueId=10001&jwt={forged}").status_code == 401
    other = connect_token(
        secret=other_tenant.shared_secret,
        client_key=other_tenant.client_key,
        path="/connect/portal",
        query=[("issueId", "10001")],
    )
    response = client.get(f"/connect/portal?issueId=10001&jwt={other}")
    assert response.status_code == 200 and "reset your password" not in response.content.decode()


def test_the_admin_page_opens_for_jira_admins_only(client, tenant, standin, settings):
    standin.grant("557058:devhost-carol", "browse")
    for account, status in (("557058:devhost-alice", 200), ("557058:devhost-carol", 403)):
        page = httpx.get(f"{standin.base_url}/jira/settings/apps/api-tokens", params={"as": account}).text
        response = client.get(iframe_path(page, settings.BASE_URL))
        assert response.status_code == status, account
        assert ("api-tokens.js" in response.content.decode()) is (status == 200)


def test_the_forge_portal_module_reads_only_visible_items_of_its_request(client, standin, settings):
    from tests.conftest import fit, forge_installed

    standin.system_tokens.add("system-token-portal")
    context = {
        "cloudId": "cloud-portal",
        "siteUrl": "https://forge-site.atlassian.net",
        "extension": {"request": {"key": "DEMO-1", "typeId": "1"}, "portal": {"id": "1"}},
    }
    forge_installed(client, standin, settings, "system-token-portal")  # the app's token, for the key's lookup

    def call(module_key, principal="557058:forge-user"):
        token = fit(standin, settings, issue=None, module_key=module_key, context=context, principal=principal)
        return client.get("/api/v1/portal/checklist", HTTP_AUTHORIZATION=f"Bearer {token}")

    panel = fit(standin, settings)  # the Forge issue panel writes the checklist, as an agent would
    for line in ("- [ ] shared step {customer}", "- [ ] internal step"):
        response = client.post(
            "/api/v1/issues/10001/checklist/items",
            data={"text": line.split("] ")[1].removesuffix(" {customer}"), "visibleToCustomer": "customer" in line},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {panel}",
            HTTP_X_FORGE_OAUTH_USER=standin.user_token("557058:forge-user"),
        )
        assert response.status_code == 201, response.content
    answer = call("herochecklist-portal")
    assert answer.status_code == 200, answer.content
    assert answer.json()["issueKey"] == "DEMO-1"
    assert [i["text"] for i in answer.json()["items"]] == ["shared step"]
    assert call("herochecklist-panel").status_code == 401  # the issue panel's FIT does not open this route
    # A portal-only customer reads the portal; a FIT naming one never opens the agents' API.
    assert [i["text"] for i in call("herochecklist-portal", principal=CUSTOMER).json()["items"]] == ["shared step"]
    customer_panel = fit(standin, settings, principal=CUSTOMER)
    refused = client.get("/api/v1/issues/10001/checklist", HTTP_AUTHORIZATION=f"Bearer {customer_panel}")
    assert refused.status_code == 401 and b"internal step" not in refused.content


def test_a_site_status_counts_and_reads_on_the_portal_as_in_the_panel(client, api, standin, settings, tenant):

    SiteStatus.objects.create(tenant=tenant, key="shipped", name="Shipped", color="#36b37e", counts_as_done=True)
    api.put_text("- [shipped] reset your password {customer}\n- [ ] check the logs {customer}\n")
    page = httpx.get(f"{standin.base_url}/servicedesk/customer/portal/1/DEMO-1").text
    body = client.get(iframe_path(page, settings.BASE_URL)).content.decode()
    assert "1 of 2 done" in body
    assert "Shipped" in body and ">shipped<" not in body  # the site's name for it, not its key


def test_a_header_is_never_visible_to_customers(shared):
    refused = shared.add("Customer section", isHeader=True, visibleToCustomer=True)
    assert refused.status_code == 422 and list(refused.json()["fields"]) == ["visibleToCustomer"]
    items = {i["text"]: i for i in shared.get().json()["items"]}
    header, shown = items["Setup"], items["reset your password"]
    version = shared.get().json()["version"]
    for item, fields in ((header, {"visibleToCustomer": True}), (shown, {"isHeader": True, "visibleToCustomer": True})):
        response = shared.patch(item["id"], **fields)
        assert response.status_code == 422 and list(response.json()["fields"]) == ["visibleToCustomer"]
    assert shared.get().json()["version"] == version
    # An item that becomes a header loses the flag, as it loses its status; clearing it on a header is no change.
    became = shared.patch(shown["id"], isHeader=True).json()
    assert became["isHeader"] is True and became["visibleToCustomer"] is False
    assert shared.patch(header["id"], visibleToCustomer=False).status_code == 200
    # Text mode has no way to say it: a header's `{customer}` is its text.
    shared.put_text("## Section {customer}\n- [ ] step {customer}\n")
    header, step = shared.get().json()["items"]
    assert (header["text"], header["visibleToCustomer"], step["visibleToCustomer"]) == (
        "Section {customer}",
        False,
        True,
    )


def test_a_restore_refuses_a_header_visible_to_customers():
    fields = {"text": "Section", "assignee_account_id": "", "is_header": True, "customer_visible": True}
    with pytest.raises(ValidationFailed) as caught:
        check_archived_record("checklists.checklistitem", fields)
    assert list(caught.value.errors) == ["customer_visible"]
    check_archived_record("checklists.checklistitem", {**fields, "customer_visible": False})
    check_archived_record("checklists.checklistitem", {**fields, "is_header": False})
    check_archived_record("checklists.checklistitem", {"text": "an archive from before the flag", "is_header": True})


def test_the_migration_clears_the_flag_on_existing_headers(shared):
    items = {i["text"]: i for i in shared.get().json()["items"]}
    ChecklistItem.objects.filter(id=items["Setup"]["id"]).update(customer_visible=True)  # as the API once allowed
    checklist, header = Checklist.objects.get(), ChecklistItem.objects.get(id=items["Setup"]["id"])
    migration = importlib.import_module("checklists.migrations.0008_headers_are_not_customer_visible")
    migration.clear_header_visibility(django_apps, None)
    after = {i["text"]: i for i in shared.get().json()["items"]}
    assert after["Setup"]["visibleToCustomer"] is False
    assert after["reset your password"]["visibleToCustomer"] is True  # items keep theirs
    # The checklist grows before the header changes and again after (the migration runs without a transaction).
    assert Checklist.objects.get().version == checklist.version + 2
    assert ChecklistItem.objects.get(id=header.id).version == header.version + 1
    migration.clear_header_visibility(django_apps, None)  # nothing left to clear: no new version
    assert Checklist.objects.get().version == checklist.version + 2


@pytest.mark.parametrize("path", ["", "/text", "/history"])
def test_a_customers_context_token_never_reads_the_agents_checklist(client, shared, standin, tenant, path):
    """The Connect portal page runs all.js: a customer can ask it for a context token bound to their request and
    bring it to /api/v1, where a bound credential reads every item. A customer's account is refused there (and
    Jira's Browse check would not stop them: customers browse through portal access)."""
    from tenants.qsh import CONTEXT_QSH

    def read(account_id):
        token = connect_token(
            secret=tenant.shared_secret,
            client_key=tenant.client_key,
            account_id=account_id,
            qsh=CONTEXT_QSH,
            context={"jira": {"issue": {"id": "10001", "key": "DEMO-1"}, "project": {"id": "10000"}}},
        )
        return client.get(f"/api/v1/issues/10001/checklist{path}", HTTP_AUTHORIZATION=f"JWT {token}")

    agent = read("557058:agent")
    assert agent.status_code == 200 and b"internal note" in agent.content  # the same token of an agent reads all
    refused = read(CUSTOMER)
    assert refused.status_code == 401
    assert b"internal" not in refused.content and b"secret" not in refused.content
