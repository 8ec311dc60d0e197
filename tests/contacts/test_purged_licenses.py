"""A license purged with its site does not come back when the Marketplace reports it again (a poll, a full CSV import):
its contacts were erased and stay erased. A purchase since the purge (active, updated after it) is a new customer."""

import io
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.utils import timezone

from contacts import services
from contacts.models import Contact, License
from devhost.marketplace import license_record
from staff.models import AuditEntry
from tenants.services import tenant_purge

pytestmark = pytest.mark.django_db(transaction=True)


def _record(tenant, **fields):
    return {**license_record(7, host=urlparse(tenant.base_url).hostname), **fields}


def _purged_site_license(tenant):
    services.license_ingest(records=[_record(tenant)])
    assert License.objects.get().tenant_id == tenant.pk and Contact.objects.count() == 2
    tenant_purge(tenant=tenant)
    assert not License.objects.exists() and not Contact.objects.exists()


@pytest.mark.parametrize(
    "status, days_after_purge",
    [("active", -3), ("active", 0), ("cancelled", 1), ("inactive", 30)],
)
def test_a_purged_license_reported_again_stays_out_with_its_contacts(hubspot, tenant, status, days_after_purge):
    _purged_site_license(tenant)
    updated = (timezone.now() + timedelta(days=days_after_purge)).date().isoformat()
    result = services.license_ingest(records=[_record(tenant, status=status, lastUpdated=updated)])
    assert (result.licenses, result.purged, result.skipped) == (0, 1, 1)
    assert not License.objects.exists() and not Contact.objects.exists()
    # The record names the license by a keyed hash only: the log names nobody once it is gone.
    entry = AuditEntry.objects.get(model="contacts.license")
    assert "40000007" not in str(entry.object_ids) + entry.path and entry.search_hash


def test_a_purged_license_stays_out_after_a_restore_into_an_empty_database(hubspot, tenant, backup_dir):
    """The archive predates the purge and the new database has no audit log: the purge entries kept beside the
    backups (tenants.purge_ledger) come back with the restore, and the Marketplace's next report of the license still
    leaves it out."""
    from django.core.management import call_command

    from operations import backup

    services.license_ingest(records=[_record(tenant)])
    name = backup.backup_create().name
    tenant_purge(tenant=tenant)
    backup._delete_existing(None, None)
    AuditEntry._base_manager.all()._raw_delete(AuditEntry._base_manager.db)
    call_command("restore", name, "--yes", stdout=io.StringIO())
    assert not License.objects.exists() and not Contact.objects.exists()

    result = services.license_ingest(records=[_record(tenant)])

    assert (result.licenses, result.purged) == (0, 1)
    assert not License.objects.exists() and not Contact.objects.exists()


def test_a_purchase_after_the_purge_is_a_new_customer(hubspot, tenant):
    _purged_site_license(tenant)
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    result = services.license_ingest(records=[_record(tenant, lastUpdated=tomorrow)])
    assert (result.licenses, result.purged) == (1, 0)
    assert License.objects.get().tenant_id is None  # the site is gone; a reinstall will be a new one
    assert Contact.objects.count() == 2


def test_a_license_never_purged_is_ingested_as_before(hubspot, tenant, other_tenant):
    _purged_site_license(tenant)
    result = services.license_ingest(records=[license_record(8, host=urlparse(other_tenant.base_url).hostname)])
    assert (result.licenses, result.purged) == (1, 0)
    assert License.objects.get().tenant_id == other_tenant.pk
