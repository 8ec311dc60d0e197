"""Red team of the Connect-to-Forge migration (README "Migrate a Connect installation"): a site whose Forge call came
before the Connect `installed` that names its installation, lifecycle calls out of order, and a purge meeting a
reinstall. What must hold: one tenant per site, nothing the site wrote lost or doubled, secrets encrypted at rest."""

import json
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.utils import timezone

from checklists import services as checklist_services
from checklists.models import Checklist, ChecklistItem, SiteStatus, Template
from tenants import site_tokens
from tenants.models import Tenant, TenantState
from tenants.services import tenant_install, tenant_purge_expired, tenant_reencrypt, tenant_set_enabled
from tenants.signals import tenant_purging
from tests.conftest import INSTALLATION, ISSUE, Api, fit, forge_api, signed_install

pytestmark = pytest.mark.django_db

OTHER_ISSUE = {"id": "10002", "key": "DEMO-2", "projectId": "10000", "typeId": "10003"}
SYSTEM_TOKEN = "forge-system-token-" + "s" * 40


def lifecycle(client, standin, settings, event, **kw):
    token = fit(standin, settings, module_key="herochecklist-lifecycle", principal=None, issue=None, **kw)
    return client.post(
        "/forge/lifecycle",
        data=json.dumps({"eventType": event}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_X_FORGE_OAUTH_SYSTEM=SYSTEM_TOKEN,
    )


def texts(response):
    assert response.status_code == 200, response.content
    return [item["text"] for item in response.json()["items"]]


def test_a_connect_site_whose_forge_call_came_first_keeps_what_both_panels_wrote(client, standin, settings, tenant):
    """The order Atlassian does not promise: the Forge version's lifecycle and panel reach us before Connect's
    `installed` names the installation. Both tenants then hold checklists (one issue on both sides), templates,
    statuses (one key on both sides) and a site token; the install must leave one tenant with all of it."""
    standin.grant("557058:forge-user", "admin")
    connect = Api(client, tenant)
    assert connect.put_text("- [ ] Connect item\n").status_code == 200
    admin = checklist_services.Actor("557058:alice")
    checklist_services.template_create(tenant=tenant, actor=admin, data={"name": "Connect T", "text": "- [ ] a"})
    checklist_services.status_create(tenant=tenant, data={"key": "review", "name": "Review"})

    assert lifecycle(client, standin, settings, "avi:forge:installed:app").status_code == 204
    forge = forge_api(client, standin, settings)
    assert forge.add("Forge item").status_code == 201
    other = forge_api(client, standin, settings, issue=OTHER_ISSUE)
    assert other.call("post", other.url("/items", OTHER_ISSUE["id"]), {"text": "Forge only"}).status_code == 201
    forge_tenant = Tenant.objects.get(client_key=f"forge:{INSTALLATION}")
    checklist_services.template_create(tenant=forge_tenant, actor=admin, data={"name": "Forge T", "text": "- [ ] b"})
    checklist_services.status_create(tenant=forge_tenant, data={"key": "review", "name": "Rev", "countsAsDone": True})
    checklist_services.status_create(tenant=forge_tenant, data={"key": "qa", "name": "QA"})
    _row, site_token = site_tokens.site_token_create(
        tenant=forge_tenant, name="Automation", scope="read", created_by="557058:forge-user"
    )
    versions = dict(Checklist.objects.values_list("tenant__client_key", "version"))
    assert [s["key"] for s in connect.get().json()["statuses"]] == ["review"]  # this process now holds them

    payload = {**standin.installed_payload(), "installationId": INSTALLATION}
    assert signed_install(client, standin, payload=payload).status_code == 204

    # One tenant for the installation: the Connect one, with the same id its panel tokens name.
    assert list(Tenant.objects.values_list("id", flat=True)) == [tenant.id]
    assert texts(forge_api(client, standin, settings).get()) == ["Connect item", "Forge item"]
    tenant.refresh_from_db()  # a panel token is minted from the site as it is now (the install counted)
    after = Api(client, tenant).get()
    assert texts(after) == ["Connect item", "Forge item"]
    assert [s["key"] for s in after.json()["statuses"]] == ["review", "qa"]  # what this process held, forgotten
    other = forge_api(client, standin, settings, issue=OTHER_ISSUE)
    assert texts(other.get(issue_id=OTHER_ISSUE["id"])) == ["Forge only"]
    # Nothing doubled, nothing left behind on another tenant.
    assert ChecklistItem.objects.filter(tenant=tenant).count() == ChecklistItem.objects.count() == 3
    assert Checklist.objects.filter(tenant=tenant).count() == Checklist.objects.count() == 2
    # Both panels held an older version: either one's next write is refused (reload) rather than lost.
    merged = Checklist.objects.get(issue_id=ISSUE["id"])
    assert merged.version > max(versions.values())
    assert merged.total_count == 2
    assert sorted(Template.objects.filter(tenant=tenant).values_list("name", flat=True)) == ["Connect T", "Forge T"]
    # The target's own definition of a key both defined stays.
    assert dict(SiteStatus.objects.values_list("key", "name")) == {"review": "Review", "qa": "QA"}
    # The site's API token made on the Forge admin page still works, for the same site.
    auth = client.get(f"/api/v1/issues/{ISSUE['id']}/checklist", HTTP_AUTHORIZATION=f"Bearer {site_token}")
    assert texts(auth) == ["Connect item", "Forge item"]
    # Secrets stay encrypted at rest, and the Forge side's system token came along for background calls.
    stored = Tenant.objects.get()
    assert standin.shared_secret not in stored.shared_secret_encrypted and stored.shared_secret == standin.shared_secret
    assert SYSTEM_TOKEN not in stored.forge_system_token_encrypted and stored.forge_system_token() == SYSTEM_TOKEN
    assert stored.cloud_id


def test_after_the_merge_a_forge_uninstall_leaves_no_installed_tenant_of_the_site(client, standin, settings, tenant):
    assert lifecycle(client, standin, settings, "avi:forge:installed:app").status_code == 204
    payload = {**standin.installed_payload(), "installationId": INSTALLATION}
    assert signed_install(client, standin, payload=payload).status_code == 204
    assert lifecycle(client, standin, settings, "avi:forge:uninstalled:app").status_code == 204
    assert not Tenant.objects.filter(installation_id=INSTALLATION).exclude(state=TenantState.UNINSTALLED).exists()


@pytest.mark.django_db(transaction=True)
def test_a_site_reinstalled_while_the_expiry_sweep_runs_is_not_purged(client, settings, tenant, other_tenant):
    """The sweep lists the expired sites, then purges them one by one. A site whose install lands between the two
    is live again (a new secret, Jira calling it): the sweep must leave it whole."""
    assert Api(client, tenant).put_text("- [ ] Kept\n").status_code == 200
    long_ago = timezone.now() - timedelta(days=settings.TENANT_PURGE_AFTER_DAYS + 1)
    Tenant.objects.filter(pk__in=[tenant.pk, other_tenant.pk]).update(
        state=TenantState.UNINSTALLED, uninstalled_at=long_ago
    )
    reinstalled = []

    def reinstall_the_other(sender, tenant_id, **kwargs):
        # While the sweep purges the first site it listed, the other site's Connect install comes in.
        if not reinstalled:
            other = tenant if tenant_id == str(other_tenant.pk) else other_tenant
            payload = {"clientKey": other.client_key, "sharedSecret": "n" * 40, "baseUrl": other.base_url}
            reinstalled.append(tenant_install(payload=payload).pk)
        return {}

    tenant_purging.connect(reinstall_the_other, dispatch_uid="test-reinstall-during-sweep")
    try:
        assert tenant_purge_expired() == 1
    finally:
        tenant_purging.disconnect(dispatch_uid="test-reinstall-during-sweep")
    live = Tenant.objects.get()
    assert [live.pk] == reinstalled and live.state == TenantState.INSTALLED and live.shared_secret == "n" * 40


def test_a_reinstall_during_a_key_rotation_keeps_its_new_secret(client, settings, standin, tenant):
    """The rotation lists the sites, then re-encrypts them one by one (tenant_reencrypt, each row as it was listed); a
    reinstall in between rotates the site's shared secret. The rotation must not write the old secret back under the
    new key: the site would be locked out."""
    old, new = settings.FIELD_ENCRYPTION_KEYS[0], Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    listed = Tenant.objects.get(pk=tenant.pk)
    standin.shared_secret = "fresh-" + "f" * 40
    assert signed_install(client, standin).status_code == 204
    tenant_reencrypt(tenant=listed)
    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key is gone: the secret must read under the new one
    assert Tenant.objects.get(pk=tenant.pk).shared_secret == standin.shared_secret


@pytest.mark.parametrize("enabled", [True, False])
def test_a_late_enabled_or_disabled_does_not_bring_an_uninstalled_site_back(client, standin, tenant, enabled):
    """`disabled` comes around an uninstall (AC-2561), and a request checks its JWT against the row it read (or had
    cached) before: its write must not undo the uninstall that committed since."""
    authenticated_with = Tenant.objects.get(pk=tenant.pk)
    assert signed_install(client, standin, path="/connect/uninstalled").status_code == 204
    tenant_set_enabled(tenant=authenticated_with, enabled=enabled)
    stored = Tenant.objects.get(pk=tenant.pk)
    assert stored.state == TenantState.UNINSTALLED and stored.shared_secret_encrypted == ""
    # A reinstall then installs the site as usual, and the lifecycle goes on.
    assert signed_install(client, standin).status_code == 204
    tenant_set_enabled(tenant=Tenant.objects.get(pk=tenant.pk), enabled=enabled)
    assert Tenant.objects.get(pk=tenant.pk).state == (TenantState.ENABLED if enabled else TenantState.DISABLED)


def test_an_upgrade_event_delivered_after_the_uninstall_does_not_bring_the_site_back(client, standin, settings):
    assert lifecycle(client, standin, settings, "avi:forge:installed:app").status_code == 204
    assert lifecycle(client, standin, settings, "avi:forge:uninstalled:app").status_code == 204
    # Sent before the uninstall, delivered after it (Forge retries events): acknowledged, and the uninstall stands.
    assert lifecycle(client, standin, settings, "avi:forge:upgraded:app").status_code == 204
    stored = Tenant.objects.get(installation_id=INSTALLATION)
    assert stored.state == TenantState.UNINSTALLED and stored.forge_system_token_encrypted == ""
    assert forge_api(client, standin, settings).get().status_code == 401
    # A reinstall still brings it back.
    assert lifecycle(client, standin, settings, "avi:forge:installed:app").status_code == 204
    assert forge_api(client, standin, settings).get().status_code == 200


def test_a_forge_uninstall_reaches_every_tenant_holding_the_installation(client, standin, settings, tenant):
    """Two tenants with one installation: what a database holds from before Connect installs merged them, or after a
    Forge call's first sight raced the Connect install (MongoDB lets both commit). The app leaving the site must
    leave from both: the second's site tokens must not go on working."""
    Tenant.objects.filter(pk=tenant.pk).update(installation_id=INSTALLATION)
    assert lifecycle(client, standin, settings, "avi:forge:installed:app").status_code == 204
    forge_first = Tenant.objects.create(
        client_key=f"forge:{INSTALLATION}", installation_id=INSTALLATION, base_url="https://forge-site.atlassian.net"
    )
    _row, site_token = site_tokens.site_token_create(
        tenant=forge_first, name="Automation", scope="read", created_by="557058:forge-user"
    )
    assert lifecycle(client, standin, settings, "avi:forge:uninstalled:app").status_code == 204
    assert set(Tenant.objects.values_list("state", flat=True)) == {TenantState.UNINSTALLED}
    answer = client.get(f"/api/v1/issues/{ISSUE['id']}/checklist", HTTP_AUTHORIZATION=f"Bearer {site_token}")
    assert answer.status_code == 401
