"""A purged site stays purged: every purge (a superuser's, the expiry sweep's) is recorded in the append-only audit
log, and a restore of an archive taken before it leaves the site out, with its checklists, licenses and the contacts
only it had. A site never purged restores as before."""

import io
import json
import shutil

import pytest
from django.core.files.storage import storages
from django.core.management import CommandError, call_command

from checklists.models import Checklist, ChecklistItem
from contacts.models import Contact, License
from core.db import atomic
from operations import backup
from staff.models import AuditAction, AuditEntry
from tenants import purge_ledger, tasks
from tenants.models import SiteToken, SiteTokenUse, Tenant
from tenants.services import tenant_erase_restored
from tests.tenants.test_purge import everything_stored, seed, uninstall

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _backups(backup_dir):
    return backup_dir


def _other_site_item(other_tenant):
    ChecklistItem.objects.create(
        tenant=other_tenant,
        checklist=Checklist.objects.create(tenant=other_tenant, issue_id="20001", issue_key="OTH-1", project_id="1"),
        position=0,
        text="Other site's step",
    )


def _purge(how, client, staff, standin, tenant):
    if how == "staff":
        done = staff("superuser").post(
            "/admin/tenants/tenant/", {"action": "purge_now", "_selected_action": [str(tenant.pk)], "confirm": "purge"}
        )
        assert done.status_code == 302
    else:
        uninstall(client, standin, days_ago=100)
        tasks.tenant_purge_expired_task.delay()
    assert not Tenant.objects.filter(pk=tenant.pk).exists()


def _assert_gone(tenant):
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    stored = everything_stored()
    assert tenant.client_key not in stored and "Secret step of the site" not in stored
    assert not License.objects.filter(addon_license_id="SEN-1").exists()
    assert not Contact.objects.filter(email="only@site.example").exists()
    # What the purge keeps, the restore keeps: a contact another license names, that license.
    assert Contact.objects.filter(email="shared@example.com").exists()
    assert License.objects.filter(addon_license_id="SEN-2").exists()


def _empty_database():
    """What a new host's database holds before its first restore: nothing, not even the audit log."""
    for model in (SiteTokenUse, SiteToken):  # not in backups, and they point at their site
        model._base_manager.all()._raw_delete(model._base_manager.db)
    backup._delete_existing(None, None)
    AuditEntry._base_manager.all()._raw_delete(AuditEntry._base_manager.db)


@pytest.mark.parametrize("empty", [False, True], ids=["same-database", "empty-database"])
@pytest.mark.parametrize("how", ["staff", "expiry"])
def test_a_restore_of_an_archive_taken_before_a_purge_leaves_the_site_out(
    how, empty, client, staff, standin, tenant, other_tenant
):
    """Also into an empty database (a new host): no audit log names the purge there, the archive's predates it, and
    the ledger beside the backups still names the site."""
    seed(tenant)
    _other_site_item(other_tenant)
    name = backup.backup_create().name
    _purge(how, client, staff, standin, tenant)
    entry = AuditEntry.objects.get(action=AuditAction.PURGE, model="tenants.tenant")
    assert entry.object_ids == [str(tenant.pk)]
    by = ("staff", "superuser-user") if how == "staff" else ("expired", "system (expired)")
    assert (entry.detail, entry.actor_username) == by
    if empty:
        _empty_database()

    out = io.StringIO()
    call_command("restore", name, "--yes", stdout=out)

    _assert_gone(tenant)
    assert "left out 1 purged site(s)" in out.getvalue()
    assert "tenants.tenant 1," in out.getvalue()  # the other site only
    # The site never purged is back as the archive had it.
    assert list(ChecklistItem.objects.filter(tenant=other_tenant).values_list("text", flat=True)) == [
        "Other site's step"
    ]
    assert Tenant.objects.filter(pk=other_tenant.pk).exists()


@pytest.mark.parametrize("empty", [False, True], ids=["same-database", "empty-database"])
def test_restoring_a_purged_site_alone_is_refused(empty, client, staff, standin, tenant, other_tenant):
    seed(tenant)
    _other_site_item(other_tenant)
    name = backup.backup_create().name
    _purge("staff", client, staff, standin, tenant)
    if empty:
        _empty_database()
    before = everything_stored()
    for named in (tenant.client_key, str(tenant.pk)):
        with pytest.raises(CommandError, match="was purged .* a restore never brings a purged site back"):
            call_command("restore", name, "--yes", "--tenant", named, stdout=io.StringIO())
    assert everything_stored() == before  # nothing written (in an empty database, still nothing at all)
    if not empty:
        _assert_gone(tenant)


def test_a_purge_recorded_only_in_a_later_archive_still_counts(client, staff, standin, tenant):
    """An empty database restored from the newest archive gets the purge's record with it; an older archive restored
    after that still leaves the site out."""
    seed(tenant)
    before_purge = backup.backup_create(now=backup.taken_at("herochecklist-20261101-000000.hcbak")).name
    _purge("staff", client, staff, standin, tenant)
    after_purge = backup.backup_create().name
    backup._delete_existing(None, None)
    AuditEntry._base_manager.all()._raw_delete(AuditEntry._base_manager.db)
    call_command("restore", after_purge, "--yes", stdout=io.StringIO())
    call_command("restore", before_purge, "--yes", stdout=io.StringIO())
    _assert_gone(tenant)


def _legacy_staff_purge_entry(*object_ids):
    """The admin action's own entry, all that recorded a staff purge before purges recorded themselves."""
    AuditEntry.objects.create(
        actor_id="1",
        actor_username="root",
        action=AuditAction.ACTION,
        detail="purge_now",
        model="tenants.tenant",
        object_ids=list(object_ids),
    )


@pytest.mark.parametrize("live", [False, True])
def test_a_staff_purge_recorded_before_purges_recorded_themselves(client, staff, standin, tenant, live):
    """The admin action's own entry was the only record of a staff purge: it counts for a site with no live row. A
    site still live was not purged (the broker was down and the purge refused): it restores as before."""
    seed(tenant)
    name = backup.backup_create().name
    _legacy_staff_purge_entry(str(tenant.pk))
    if not live:
        tenant_erase_restored(tenant_id=str(tenant.pk))  # the purge as it was: no record of its own
    call_command("restore", name, "--yes", stdout=io.StringIO())
    if live:
        assert "Secret step of the site" in everything_stored()
    else:
        _assert_gone(tenant)


def _ledger(folder) -> set[str]:
    """The sites the purge entries kept in this backups folder name as purged."""
    records = [json.loads(p.read_text()) for p in (folder / purge_ledger.LEDGER_FOLDER).glob("*")]
    return purge_ledger.purged_site_ids_in(records)


def test_the_ledger_beside_the_backups_names_a_site_only_once_its_purge_committed(backup_dir, tenant, other_tenant):
    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), atomic():
        purge_ledger.purge_record(tenant_id=str(other_tenant.pk), reason="staff")
        raise RolledBack
    assert _ledger(backup_dir) == set()
    with atomic():
        purge_ledger.purge_record(tenant_id=str(tenant.pk), reason="staff")
        assert _ledger(backup_dir) == set()
    assert _ledger(backup_dir) == {str(tenant.pk)}


def test_a_backup_writes_the_ledger_files_a_purge_could_not(backup_dir, client, staff, standin, tenant, other_tenant):
    """The storage was down when the purge committed: the next backup writes its file from the audit log, before an
    archive could be needed. A site whose old staff-action entry stands beside a live row was never purged."""
    seed(tenant)
    _other_site_item(other_tenant)
    name = backup.backup_create().name
    _purge("staff", client, staff, standin, tenant)
    _legacy_staff_purge_entry(str(other_tenant.pk), "not-a-site-id")
    shutil.rmtree(backup_dir / purge_ledger.LEDGER_FOLDER)

    backup.backup_create(now=backup.taken_at("herochecklist-20301101-000000.hcbak"))
    assert _ledger(backup_dir) == {str(tenant.pk)}

    _empty_database()
    call_command("restore", name, "--yes", stdout=io.StringIO())
    _assert_gone(tenant)
    assert Tenant.objects.filter(pk=other_tenant.pk).exists()


def _backups_storage_at(settings, location):
    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {**settings.STORAGES["backups"], "OPTIONS": {"location": str(location)}},
    }
    storages._storages.pop("backups", None)


def test_an_archive_copied_to_a_new_host_brings_its_ledger_folder(
    backup_dir, tmp_path_factory, settings, client, staff, standin, tenant
):
    """A new host's backups storage is empty; the archive was copied with the ledger folder beside it."""
    seed(tenant)
    name = backup.backup_create().name
    _purge("staff", client, staff, standin, tenant)
    copied = tmp_path_factory.mktemp("copied")
    shutil.copy(backup_dir / name, copied / name)
    shutil.copytree(backup_dir / purge_ledger.LEDGER_FOLDER, copied / purge_ledger.LEDGER_FOLDER)
    _backups_storage_at(settings, tmp_path_factory.mktemp("new-host"))
    _empty_database()

    out = io.StringIO()
    call_command("restore", str(copied / name), "--yes", stdout=out)

    _assert_gone(tenant)
    assert "left out 1 purged site(s)" in out.getvalue()


def test_a_restore_that_cannot_read_the_ledger_writes_nothing(backup_dir, tmp_path_factory, settings, tenant):
    """The ledger folder unreadable (here: the storage under a regular file, as the tests run as root): the restore
    is refused rather than run without knowing which sites were purged."""
    seed(tenant)
    name = backup.backup_create().name
    blocker = tmp_path_factory.mktemp("broken") / "not-a-directory"
    blocker.write_text("")
    _backups_storage_at(settings, blocker / "backups")
    before = everything_stored()
    with pytest.raises(CommandError, match=r"erased-accounts/\) could not be read \(NotADirectoryError\)"):
        call_command("restore", str(backup_dir / name), "--yes", stdout=io.StringIO())
    assert everything_stored() == before


def test_a_refused_staff_purge_of_before_purges_recorded_themselves_restores_into_an_empty_database(
    client, staff, standin, tenant
):
    """The archive holds the old staff action's entry and, taken after it, the site: that purge was refused (the
    broker down). Restored into an empty database, with no live row to tell, the archive's own rows tell."""
    seed(tenant)
    _legacy_staff_purge_entry(str(tenant.pk))
    name = backup.backup_create().name
    _empty_database()
    out = io.StringIO()
    call_command("restore", name, "--yes", stdout=out)
    assert "Secret step of the site" in everything_stored()
    assert "left out" not in out.getvalue()


def test_the_ledger_keeps_no_staff_address(backup_dir, client, staff, standin, tenant):
    """It is kept for good: the purge, not where the staff member was."""
    seed(tenant)
    _purge("staff", client, staff, standin, tenant)
    backup.backup_create()  # writes the staff action's own entry too (the site has no live row)
    records = [json.loads(p.read_text()) for p in (backup_dir / purge_ledger.LEDGER_FOLDER).glob("*")]
    assert {r["fields"]["action"] for r in records} >= {"purge", "action"}
    assert AuditEntry.objects.filter(detail="purge_now").exclude(ip_address="").exists()
    assert all(r["fields"]["ip_address"] == "" and r["fields"]["path"] == "" for r in records)


def test_an_archive_restored_by_its_path_in_the_backups_folder_reads_the_ledger_once(
    backup_dir, client, staff, standin, tenant
):
    """The archive named by its path in the backups folder itself: the folder beside it is the storage's own ledger,
    and each entry read twice was added to the audit log twice (a duplicate key: the restore refused)."""
    seed(tenant)
    name = backup.backup_create().name
    _purge("staff", client, staff, standin, tenant)
    _empty_database()

    out = io.StringIO()
    call_command("restore", str(backup_dir / name), "--yes", stdout=out)

    _assert_gone(tenant)
    assert "left out 1 purged site(s)" in out.getvalue()
    assert AuditEntry.objects.filter(action=AuditAction.PURGE, model="tenants.tenant").count() == 1


def test_two_files_of_one_purge_entry_are_read_as_one(backup_dir, client, staff, standin, tenant):
    """Two writers of one entry (the purge's commit and a backup's sync): the storage names the second file
    <id>_<random>.json. Both read, the entry was added to an empty audit log twice."""
    seed(tenant)
    name = backup.backup_create().name
    _purge("staff", client, staff, standin, tenant)
    for kept in list((backup_dir / purge_ledger.LEDGER_FOLDER).glob("*.json")):  # the site's, its licenses'
        shutil.copy(kept, kept.with_name(f"{kept.stem}_a1b2c3d.json"))
    _empty_database()

    call_command("restore", name, "--yes", stdout=io.StringIO())

    _assert_gone(tenant)


@pytest.mark.parametrize("content", ["[]", '"text"', "1"])
def test_a_ledger_file_that_is_not_an_entry_refuses_the_restore(backup_dir, tenant, content):
    seed(tenant)
    name = backup.backup_create().name
    folder = backup_dir / purge_ledger.LEDGER_FOLDER
    folder.mkdir(exist_ok=True)
    (folder / "00000000-0000-0000-0000-000000000000.json").write_text(content)
    before = everything_stored()
    with pytest.raises(CommandError, match=r"could not be read \(ValueError\)"):
        call_command("restore", name, "--yes", stdout=io.StringIO())
    assert everything_stored() == before
