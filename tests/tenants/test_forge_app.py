"""The Forge front door: every API endpoint with a Forge Invocation Token, the lifecycle and issue-deleted
triggers, and a Connect site moving to Forge with its checklists."""

import json
import re
from pathlib import Path

import pytest
from django.urls import resolve

from checklists.models import Checklist, ChecklistItem
from devhost.keys import KeyPair, forge_token
from tenants import auth
from tenants.models import Tenant, TenantState
from tests.conftest import INSTALLATION, ISSUE, OTHER_INSTALLATION, Api, fit, forge_api, signed_install
from tests.tenants.test_forge_integrations import FORGE_INTEGRATION_PATHS

pytestmark = pytest.mark.django_db

MANIFEST = Path(__file__).resolve().parents[2] / "forge" / "manifest.yml"


def trigger(client, path, token, body):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def lifecycle(client, standin, settings, event, **kw):
    token = fit(standin, settings, module_key="herochecklist-lifecycle", principal=None, issue=None, **kw)
    return trigger(client, "/forge/lifecycle", token, {"eventType": event, "id": "ignored-body-id"})


def test_every_contract_endpoint_answers_a_forge_invocation(client, standin, settings):
    standin.grant("557058:forge-user", "admin")  # site-wide templates are for Jira admins
    api = forge_api(client, standin, settings)
    response = api.get()
    assert response.status_code == 200, response.content
    created = api.add("Forge item", version=0)
    assert created.status_code == 201, created.content
    item_id = created.json()["id"]  # the contract: 201 item
    version = int(created["ETag"].strip('"'))
    patched = api.patch(item_id, version=version, status="done")
    assert patched.status_code == 200, patched.content
    version = int(patched["ETag"].strip('"'))
    order = api.call("put", api.url("/order"), {"itemIds": [item_id]}, version=version)
    assert order.status_code == 200, order.content
    assert api.call("get", api.url("/text")).status_code == 200
    text = api.put_text("- [x] Forge item\n- [ ] Second\n")
    assert text.status_code == 200, text.content
    assert api.call("get", api.url("/history")).status_code == 200
    template = api.call("post", "/api/v1/templates", {"name": "Release", "text": "- [ ] Tag"})
    assert template.status_code == 201, template.content
    template_id = template.json()["id"]
    assert api.call("get", "/api/v1/templates").status_code == 200
    assert api.call("get", f"/api/v1/templates/{template_id}").status_code == 200
    assert api.call("patch", f"/api/v1/templates/{template_id}", {"name": "Release 2"}).status_code == 200
    applied = api.call("post", api.url("/apply-template"), {"templateId": template_id})
    assert applied.status_code == 200, applied.content
    last = api.get().json()["items"][-1]["id"]
    assert api.delete(last).status_code == 204
    assert api.call("delete", f"/api/v1/templates/{template_id}").status_code == 204
    settings_answer = client.get("/api/v1/settings/workflow", HTTP_AUTHORIZATION=api.authorization, **api.headers)
    assert settings_answer.status_code == 200, settings_answer.content
    assert api.call("post", "/api/v1/statuses", {"name": "Review", "key": "review"}).status_code == 201
    assert api.call("get", "/api/v1/statuses").status_code == 200
    assert api.call("patch", "/api/v1/statuses/review", {"name": "In review"}).status_code == 200
    assert api.call("get", "/api/v1/manager").status_code == 200
    assert api.call("delete", "/api/v1/statuses/review").status_code == 204
    tenant = Tenant.objects.get(installation_id=INSTALLATION)
    assert tenant.client_key == f"forge:{INSTALLATION}"
    texts = list(ChecklistItem.objects.filter(tenant=tenant).order_by("position").values_list("text", flat=True))
    assert texts == ["Forge item", "Second"]
    # The OpenAPI schema lists no endpoint this test left out.
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    called = {
        "/issues/{issue_id}/checklist",
        "/issues/{issue_id}/checklist/items",
        "/issues/{issue_id}/checklist/items/{item_id}",
        "/issues/{issue_id}/checklist/order",
        "/issues/{issue_id}/checklist/text",
        "/issues/{issue_id}/checklist/apply-template",
        "/issues/{issue_id}/checklist/history",
        "/templates",
        "/templates/{template_id}",
        "/settings/workflow",
        "/statuses",
        "/statuses/{key}",
        "/manager",
    }
    assert {p.removeprefix("/api/v1") for p in paths} == called | FORGE_INTEGRATION_PATHS


@pytest.mark.parametrize(
    "attack",
    ["expired", "other app", "trigger module", "foreign key", "no principal"],
)
def test_forged_or_misused_fits_get_401_and_write_nothing(client, standin, settings, attack):
    kw = {
        "expired": {"ttl": -120},
        "other app": {"aud": "ari:cloud:ecosystem::app/11111111-1111-1111-1111-111111111111"},
        "trigger module": {"module_key": "herochecklist-lifecycle"},
        "no principal": {"principal": None},
    }.get(attack, {})
    if attack == "foreign key":
        token = forge_token(KeyPair(), app_id=settings.FORGE_APP_ID, installation_id=INSTALLATION, issue=ISSUE)
    else:
        token = fit(standin, settings, **kw)
    api = Api(client, None, authorization=f"Bearer {token}")
    response = api.add("sneaky")
    assert response.status_code == 401, response.content
    assert not ChecklistItem.objects.filter(text="sneaky").exists()


def test_a_fit_for_one_issue_gets_403_on_another_and_writes_nothing(client, standin, settings):
    # The contract: a credential bound to one issue may touch only that issue (403 otherwise).
    api = forge_api(client, standin, settings)  # a user who may edit the issue of the FIT
    assert api.add("allowed").status_code == 201
    response = api.call("post", api.url("/items", issue_id="10002"), {"text": "sneaky"})
    assert response.status_code == 403, response.content
    assert not ChecklistItem.objects.filter(text="sneaky").exists()


def test_lifecycle_installs_uninstalls_and_reinstalls_keeping_data(client, standin, settings):
    assert lifecycle(client, standin, settings, "avi:forge:installed:app").status_code == 204
    tenant = Tenant.objects.get(installation_id=INSTALLATION)
    assert tenant.state == TenantState.INSTALLED
    api = forge_api(client, standin, settings)
    assert api.add("Kept across reinstall").status_code == 201
    assert lifecycle(client, standin, settings, "avi:forge:uninstalled:app").status_code == 204
    tenant.refresh_from_db()
    assert tenant.state == TenantState.UNINSTALLED
    assert forge_api(client, standin, settings).get().status_code == 401  # the app is gone from that site
    assert lifecycle(client, standin, settings, "avi:forge:installed:app").status_code == 204
    assert [i["text"] for i in forge_api(client, standin, settings).get().json()["items"]] == ["Kept across reinstall"]
    assert Tenant.objects.filter(installation_id=INSTALLATION).count() == 1


def test_lifecycle_refuses_bad_tokens_and_bodies(client, standin, settings):
    panel_token = fit(standin, settings)  # a panel FIT is not a lifecycle trigger
    assert trigger(client, "/forge/lifecycle", panel_token, {"eventType": "avi:forge:installed:app"}).status_code == 401
    assert trigger(client, "/forge/lifecycle", "garbage", {"eventType": "avi:forge:installed:app"}).status_code == 401
    for body in ({"eventType": "avi:jira:created:issue"}, {}, ["x"]):
        token = fit(standin, settings, module_key="herochecklist-lifecycle", principal=None, issue=None)
        response = trigger(client, "/forge/lifecycle", token, body)
        assert response.status_code == 400 and "eventType" in response.json()["fields"]
    assert not Tenant.objects.exists()


def test_issue_deleted_trigger_removes_that_checklist_only(client, standin, settings):
    api = forge_api(client, standin, settings)
    assert api.add("Doomed").status_code == 201
    other = forge_api(client, standin, settings, installation=OTHER_INSTALLATION)
    assert other.add("Same issue id on another site").status_code == 201
    token = fit(standin, settings, module_key="herochecklist-issue-deleted", principal=None, issue=None)
    for bad in ({"issue": {"id": "x1"}}, {}, {"issue": {"id": "1" * 30}}):
        response = trigger(client, "/forge/events/issue-deleted", token, bad)
        assert response.status_code == 400 and "issue.id" in response.json()["fields"]
    panel = fit(standin, settings)
    assert trigger(client, "/forge/events/issue-deleted", panel, {"issue": {"id": "10001"}}).status_code == 401
    response = trigger(client, "/forge/events/issue-deleted", token, {"issue": {"id": "10001", "key": "DEMO-1"}})
    assert response.status_code == 204
    assert not ChecklistItem.objects.filter(text="Doomed").exists()
    assert ChecklistItem.objects.filter(text="Same issue id on another site").exists()


def test_a_connect_site_moves_to_forge_keeping_its_checklists(client, standin, settings, tenant):
    # Before: a Connect site with a checklist, made through the Connect panel token.
    connect_api = Api(client, tenant)
    assert connect_api.put_text("- [ ] Made under Connect\n- [x] Also Connect\n").status_code == 200
    assert not tenant.installation_id
    # The migration: Atlassian sends the Connect `installed` payload again, now carrying the installationId.
    payload = {**standin.installed_payload(), "installationId": INSTALLATION}
    assert signed_install(client, standin, payload=payload).status_code == 204
    # After: Forge calls for that installation land on the same tenant and see the same checklist.
    assert lifecycle(client, standin, settings, "avi:forge:installed:app").status_code == 204
    body = forge_api(client, standin, settings).get().json()
    assert [i["text"] for i in body["items"]] == ["Made under Connect", "Also Connect"]
    assert Tenant.objects.count() == 1 and Checklist.objects.count() == 1
    assert Tenant.objects.get().client_key == standin.client_key


def test_the_manifest_routes_reach_our_forge_views():
    text = MANIFEST.read_text()
    routes = re.findall(r"route:\s*\n\s*path:\s*(\S+)", text)
    assert {"/forge/events/issue-deleted", "/forge/lifecycle"} <= set(routes)
    for route in routes:  # the workflow's triggers and post functions too (checklists/workflow)
        assert resolve(route), route
    assert resolve("/forge/lifecycle").url_name == "forge-lifecycle"
    assert resolve("/forge/events/issue-deleted").url_name == "forge-issue-deleted"
    for connect_path in re.findall(r"(?:installed|uninstalled|enabled|disabled|url): (/connect/\S+)", text):
        assert resolve(connect_path), connect_path
    # The module keys the backend accepts are the manifest's.

    for key in (
        auth.FORGE_PANEL_MODULE,
        auth.FORGE_LIFECYCLE_MODULE,
        auth.FORGE_ISSUE_DELETED_MODULE,
        *auth.FORGE_TEMPLATE_MODULES,
    ):
        assert f"key: {key}\n" in text, key


def test_the_template_managers_pages_reach_the_api_with_their_own_fits(client, standin, settings):
    """jira:projectSettingsPage and jira:adminPage: FITs without an issue reach the manager's endpoints, and their
    user's Jira rights decide (a project admin may not change the site's statuses); a trigger's FIT reaches none."""
    standin.grant("557058:forge-user", "project-admin")
    project = {"id": "10000"}
    for module in ("herochecklist-templates-project", "herochecklist-templates-admin"):
        api = forge_api(client, standin, settings, module_key=module, issue=None)
        answer = api.call("get", "/api/v1/manager?projectId=10000")
        assert answer.status_code == 200, answer.content
        assert answer.json()["permissions"] == {"manageSite": False, "manageProject": True}
        body = {"name": module, "text": "- [ ] a", "projectId": project["id"]}
        assert api.call("post", "/api/v1/templates", body).status_code == 201
        assert api.call("post", "/api/v1/statuses", {"name": "Nope"}).status_code == 403
    trigger_fit = forge_api(client, standin, settings, module_key="herochecklist-lifecycle", issue=None)
    assert trigger_fit.call("get", "/api/v1/manager").status_code == 401
