"""Archives written by earlier releases keep restoring after models move between apps (label aliases in the restore).

data/release-e83ec0f.hcbak was written by commit e83ec0f (before staff/ and operations/ existed, when the audit log
and the reported accounts were core.auditentry and core.reportedaccount) with the key below, which exists only here."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from checklists.models import Checklist, ChecklistItem, Template
from contacts.models import Contact, License
from operations.models import ReportedAccount
from staff.models import AuditEntry
from tenants.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True)

ARCHIVE = Path(__file__).parent / "data" / "release-e83ec0f.hcbak"
ARCHIVE_KEY = "n-IBHeBiSZ86SgVsXQBOeU63T2g9qv0iyMxWxXjEn2o="


def test_an_archive_of_release_e83ec0f_restores_every_record(settings, backup_dir):
    settings.BACKUP_ENCRYPTION_KEYS = [ARCHIVE_KEY]
    (backup_dir / ARCHIVE.name).write_bytes(ARCHIVE.read_bytes())

    call_command("restore", ARCHIVE.name, "--yes", stdout=io.StringIO())

    tenant = Tenant.objects.get()
    assert (tenant.client_key, tenant.base_url) == ("fixture-site-a", "https://fixture-a.atlassian.net")
    checklist = Checklist.objects.get(tenant=tenant)
    assert sorted(ChecklistItem.objects.filter(checklist=checklist).values_list("text", flat=True)) == [
        "Build",
        "Release",
        "Tag",
    ]
    assert Template.objects.get(tenant=tenant).name == "T"
    contact = Contact.objects.get()
    assert contact.email == "ann@example.com"
    assert License.objects.get().tenant_id == tenant.pk
    # The archived entry comes back beside the restore's own (the log is append-only and logs restores, #15).
    assert AuditEntry.objects.filter(action="restore").count() == 1
    entry = AuditEntry.objects.exclude(action="restore").get()
    assert (entry.actor_username, entry.action, entry.model, entry.object_ids) == (
        "root",
        "view",
        "contacts.contact",
        [str(contact.pk)],
    )
    assert ReportedAccount.objects.get().account_id == "557058:alice"
