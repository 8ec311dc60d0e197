"""A restore brings back data, never a site's live credentials or install state; it never removes audit entries
and is itself audited; staff accounts are not in backups, and `createstaff` is the tested way back in."""

import io
import secrets
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from checklists import services as checklist_services
from checklists.models import ChecklistItem
from devhost.keys import connect_token
from operations import backup
from staff.models import AuditEntry
from tenants.models import Tenant
from tests.conftest import create_staff, issue_ref, login, signed_install

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = checklist_services.Actor("557058:alice")


@pytest.fixture(autouse=True)
def _backups(backup_dir):
    return backup_dir


def _write(tenant, text):
    checklist_services.checklist_replace_text(tenant=tenant, issue=issue_ref(), actor=ACTOR, text=text)


def _webhook(client, standin):
    path = "/connect/webhooks/issue-deleted"
    token = connect_token(
        secret=standin.shared_secret, client_key=standin.client_key, method="POST", path=path, account_id=None
    )
    return client.post(
        path, data={"issue": {"id": "99999"}}, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}"
    )


@pytest.mark.parametrize("scope", ["tenant", "all"])
def test_a_restore_keeps_the_sites_live_credentials_and_install_state(client, standin, tenant, scope):
    _write(tenant, "- [ ] archived\n")
    name = backup.backup_create().name
    # After the backup the site is reinstalled (new shared secret) and gets a Forge system token.
    standin.shared_secret = secrets.token_urlsafe(48)
    assert signed_install(client, standin).status_code == 204
    live = Tenant.objects.get(pk=tenant.pk)
    live.forge_system_token_encrypted = "live-token-ciphertext"
    live.forge_system_token_expires_at = timezone.now() + timedelta(hours=1)
    live.entitlement_id = "live-entitlement"
    live.save()
    live_values = Tenant.objects.filter(pk=tenant.pk).values(*backup.TENANT_LIVE_FIELDS).get()
    _write(tenant, "- [ ] after the backup\n")

    args = ["--tenant", standin.client_key] if scope == "tenant" else []
    call_command("restore", name, "--yes", *args, stdout=io.StringIO())

    assert list(ChecklistItem.objects.values_list("text", flat=True)) == ["archived"]  # the data came back
    assert Tenant.objects.filter(pk=tenant.pk).values(*backup.TENANT_LIVE_FIELDS).get() == live_values
    assert Tenant.objects.get(pk=tenant.pk).shared_secret == standin.shared_secret
    assert _webhook(client, standin).status_code == 204  # calls signed with the live secret still authenticate


def test_a_restore_never_removes_audit_entries_and_is_audited(tenant):
    before = AuditEntry.objects.create(actor_id="1", actor_username="root", action="view", model="x.y")
    name = backup.backup_create().name
    after = AuditEntry.objects.create(actor_id="1", actor_username="root", action="view", model="x.z")
    call_command("restore", name, "--yes", stdout=io.StringIO())
    call_command("restore", name, "--yes", "--tenant", tenant.client_key, stdout=io.StringIO())
    assert AuditEntry.objects.filter(pk__in=[before.pk, after.pk]).count() == 2
    restores = AuditEntry.objects.filter(action="restore").order_by("created_at")
    assert [(e.detail, e.object_ids) for e in restores] == [
        ("all data", [name]),
        (f"tenant {tenant.client_key}", [name]),
    ]
    assert AuditEntry.objects.count() == 4  # nothing doubled by restoring entries the log already holds


def test_staff_are_not_restored_and_createstaff_lets_an_operator_back_in(client, tenant, monkeypatch):
    create_staff("ops", "superuser", monkeypatch)
    _write(tenant, "- [ ] survived\n")
    name = backup.backup_create().name
    # Disaster: a new, empty database (no staff, no data), then the restore.
    get_user_model().objects.all().delete()
    backup._delete_existing(None, None)
    call_command("restore", name, "--yes", stdout=io.StringIO())
    assert not get_user_model().objects.exists()  # accounts and second factors are not in archives
    assert list(ChecklistItem.objects.values_list("text", flat=True)) == ["survived"]
    create_staff("ops", "superuser", monkeypatch)  # README: Operations, "after a restore into an empty database"
    response = login(client, "ops")
    assert response.status_code == 302 and response.url == "/admin/"
