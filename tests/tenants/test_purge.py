"""Uninstalled sites: kept for the grace period (a reinstall restores access), then purged with nothing left."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.core import serializers
from django.utils import timezone

from checklists import services as checklist_services
from contacts.models import Contact, ContactLink, License
from operations import backup
from tenants import tasks
from tenants.models import Tenant, TenantState
from tests.conftest import Api, issue_ref, signed_install

pytestmark = pytest.mark.django_db(transaction=True)


def seed(tenant):
    api = Api(__import__("django.test").test.Client(), tenant)
    assert api.put_text("- [ ] Secret step of the site\n- [x] Done\n").status_code == 200
    checklist_services.template_create(
        tenant=tenant, actor=checklist_services.Actor("557058:alice"), data={"name": "T", "text": "- [ ] x"}
    )
    only_here = Contact.objects.create(email="only@site.example", display_name="Only")
    shared = Contact.objects.create(email="shared@example.com", display_name="Shared")
    here = License.objects.create(addon_license_id="SEN-1", cloud_site_hostname="site.example", tenant=tenant)
    elsewhere = License.objects.create(addon_license_id="SEN-2", cloud_site_hostname="other.example")
    ContactLink.objects.create(contact=only_here, license=here, role="technical")
    ContactLink.objects.create(contact=shared, license=here, role="billing")
    ContactLink.objects.create(contact=shared, license=elsewhere, role="billing")
    return api


def uninstall(client, standin, days_ago):
    assert signed_install(client, standin, path="/connect/uninstalled").status_code == 204
    Tenant.objects.filter(client_key=standin.client_key).update(
        uninstalled_at=timezone.now() - timedelta(days=days_ago)
    )


def everything_stored() -> str:
    return "".join(serializers.serialize("json", apps.get_model(label)._base_manager.all()) for label in backup.MODELS)


def test_a_reinstall_within_the_grace_period_restores_access(client, standin, tenant):
    seed(tenant)
    uninstall(client, standin, days_ago=89)
    tasks.tenant_purge_expired_task.delay()
    assert Tenant.objects.filter(pk=tenant.pk, state=TenantState.UNINSTALLED).exists()
    assert signed_install(client, standin).status_code == 204
    tenant.refresh_from_db()
    body = Api(client, tenant).get().json()
    assert [item["text"] for item in body["items"]] == ["Secret step of the site", "Done"]


def test_after_the_grace_period_nothing_of_the_site_remains(client, standin, tenant, other_tenant):
    seed(tenant)
    kept = Api(client, other_tenant)
    checklist_services.checklist_replace_text(
        tenant=other_tenant, issue=issue_ref(), actor=checklist_services.Actor("557058:zed"), text="- [ ] B stays\n"
    )
    uninstall(client, standin, days_ago=91)
    tenant_id = str(tenant.pk)
    tasks.tenant_purge_expired_task.delay()
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    stored = everything_stored()
    for trace in (
        tenant_id,
        standin.client_key,
        standin.base_url,
        "Secret step of the site",
        "only@site.example",
        "SEN-1",
    ):
        assert trace not in stored, trace
    # What belongs to others stays: site B's checklist, and a contact who also pays for another license.
    assert "B stays" in stored and Contact.objects.filter(email="shared@example.com").exists()
    assert kept.get().status_code == 200
    # A reinstall after the purge starts empty.
    assert signed_install(client, standin).status_code == 204
    fresh = Tenant.objects.get(client_key=standin.client_key)
    assert fresh.pk != tenant.pk
    assert Api(client, fresh).get().json()["items"] == []


def test_active_and_recently_uninstalled_sites_are_not_purged(client, standin, tenant, other_tenant):
    seed(tenant)
    uninstall(client, standin, days_ago=30)
    tasks.tenant_purge_expired_task.delay()
    assert Tenant.objects.count() == 2
    assert apps.get_model("checklists.ChecklistItem").objects.filter(tenant=tenant).count() == 2


def test_a_superuser_purges_one_site_at_once_after_confirming(staff, standin, tenant, other_tenant):
    seed(tenant)
    support = staff("support")
    form = {"action": "purge_now", "_selected_action": [str(tenant.pk)]}
    assert "purge_now" not in support.get("/admin/tenants/tenant/").content.decode()
    support.post("/admin/tenants/tenant/", {**form, "confirm": "purge"})
    assert Tenant.objects.filter(pk=tenant.pk).exists()

    superuser = staff("superuser")
    question = superuser.post("/admin/tenants/tenant/", form)
    assert question.status_code == 200 and b"Type <code>purge</code>" in question.content
    assert Tenant.objects.filter(pk=tenant.pk).exists()
    done = superuser.post("/admin/tenants/tenant/", {**form, "confirm": "purge"})
    assert done.status_code == 302
    assert not Tenant.objects.filter(pk=tenant.pk).exists() and Tenant.objects.filter(pk=other_tenant.pk).exists()
    assert tenant.client_key not in everything_stored()
    entry = apps.get_model("staff.AuditEntry").objects.get(detail="purge_now")
    assert entry.object_ids == [str(tenant.pk)] and entry.actor_username == "superuser-user"
