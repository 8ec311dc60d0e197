"""Backups: a round trip gives identical data on either database, damage and foreign keys are refused before any
write, one site can be restored alone, and the retention policy keeps exactly what it says."""

import io
import os
import tracemalloc
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core import serializers
from django.core.management import CommandError, call_command

from checklists import services as checklist_services
from checklists.models import ChecklistItem
from contacts.models import Contact, ContactLink, EmailDelivery, EmailKind, License, SyncState
from operations import backup
from operations.models import ReportedAccount
from operations.retention import backups_to_keep
from staff.audit import search_hash
from staff.models import AuditEntry
from tenants.models import Tenant
from tests.conftest import issue_ref

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = checklist_services.Actor("557058:alice")
SECOND_ISSUE = {"id": "10002", "key": "DEMO-2", "projectId": "10000", "typeId": "10002"}


@pytest.fixture
def other_tenant(other_tenant, standin):
    # Writes here run their Jira sync at once (transactional tests): site B lives on the stand-in too.
    other_tenant.base_url = standin.base_url + "/b"
    other_tenant.save()
    return other_tenant


@pytest.fixture(autouse=True)
def backup_dir(backup_dir):
    """Every test here writes its archives to a folder of its own (conftest's backup_dir)."""
    return backup_dir


def snapshot(*, skip: tuple[str, ...] = ()) -> dict[str, list]:
    """Every application record (but the models in `skip`), serialized and sorted: two equal snapshots mean identical
    data."""
    return {
        label: sorted(
            serializers.serialize("python", apps.get_model(label)._base_manager.all()), key=lambda r: str(r["pk"])
        )
        for label in backup.MODELS
        if label not in skip
    }


def seed(tenant, other_tenant):
    checklist_services.checklist_replace_text(
        tenant=tenant,
        issue=issue_ref(),
        actor=ACTOR,
        text="# Release\n- [ ] Tag {@557058:bob due:2026-12-01}\n- [x] Build ünïcødé ✓\n",
    )
    checklist_services.checklist_replace_text(
        tenant=other_tenant, issue=issue_ref(SECOND_ISSUE), actor=ACTOR, text="- [ ] Other site's item\n"
    )
    checklist_services.template_create(tenant=tenant, actor=ACTOR, data={"name": "T", "text": "- [ ] step"})
    checklist_services.status_create(tenant=tenant, data={"name": "In review", "color": "#6554c0"})
    contact = Contact.objects.create(email="ann@example.com", display_name="Ann")
    License.objects.create(addon_license_id="SEN-9", cloud_site_hostname="x.atlassian.net", tenant=tenant)
    AuditEntry.objects.create(
        actor_id="1", actor_username="root", action="view", model="contacts.contact", object_ids=[str(contact.pk)]
    )
    ReportedAccount.objects.create(account_id="557058:alice", reported_at=datetime(2026, 11, 1, tzinfo=UTC))


def wipe():
    """An empty database: restores never delete audit entries, so they go by hand here."""
    backup._delete_existing(None, None)
    AuditEntry._base_manager.all()._raw_delete(AuditEntry._base_manager.db)
    assert all(not rows for rows in snapshot().values())


def test_round_trip_gives_identical_data(tenant, other_tenant):
    seed(tenant, other_tenant)
    before = snapshot()
    assert all(
        before[label]
        for label in backup.MODELS
        if label != "contacts.ContactLink" and "Email" not in label and "Poll" not in label
    )
    result = backup.backup_create()
    assert result.name in backup.backup_list() and result.size > 0
    assert backup.archive_verify(result.name)["checklists.checklistitem"] == 4  # a header, two items; one on B
    wipe()
    call_command("restore", result.name, "--yes", stdout=io.StringIO())
    restore_entry = AuditEntry.objects.get(action="restore")
    after = snapshot()
    after["staff.AuditEntry"] = [r for r in after["staff.AuditEntry"] if str(r["pk"]) != str(restore_entry.pk)]
    assert after == before
    # The restored site works: its secret still decrypts and its checklist reads back.
    assert Tenant.objects.get(pk=tenant.pk).shared_secret == tenant.shared_secret


def test_a_restore_adds_old_audit_entries_without_their_search_text(tenant):
    # An archive taken before the trail hashed what staff type: an entry holds a search for an email in clear.
    old = AuditEntry.objects.create(
        actor_id="1",
        actor_username="root",
        action="list",
        model="contacts.contact",
        path="/admin/contacts/contact/?q=Ann%40Example.com&sync_state__exact=pending",
    )
    result = backup.backup_create()
    wipe()
    backup.archive_restore(result.name)
    entry = AuditEntry.objects.get(pk=old.pk)
    assert (entry.search_hash, entry.search_kind) == (search_hash("ann@example.com"), "email")
    assert entry.path == "/admin/contacts/contact/?sync_state__exact=pending"


def test_an_archive_with_two_spellings_of_one_address_restores_one_contact(tenant):
    # As an earlier release stored them: the normal form, and an old spelling that was sent the onboarding email,
    # unsubscribed and linked to a license.
    normal = Contact.objects.create(email="bea@example.com", sync_state=SyncState.SYNCED, hubspot_id="7")
    old = Contact.objects.create(email="Bea@Example.com", unsubscribed_at=datetime(2026, 3, 1, tzinfo=UTC))
    lic = License.objects.create(addon_license_id="SEN-9", tenant=tenant)
    ContactLink.objects.create(contact=old, license=lic, role="technical")
    EmailDelivery.objects.create(contact=old, kind=EmailKind.ONBOARDING, sent_at=datetime(2026, 2, 1, tzinfo=UTC))
    Contact.objects.create(email="ｃｙ@example.com")  # full width, alone
    name = backup.backup_create().name
    wipe()

    call_command("restore", name, "--yes", stdout=io.StringIO())

    assert sorted(Contact.objects.values_list("email", flat=True)) == ["bea@example.com", "cy@example.com"]
    bea = Contact.objects.get(email="bea@example.com")
    assert (bea.pk, bea.hubspot_id, bea.sync_state) == (normal.pk, "7", SyncState.PENDING)
    assert bea.unsubscribed_at == datetime(2026, 3, 1, tzinfo=UTC)
    assert list(EmailDelivery.objects.values_list("contact_id", "kind")) == [(normal.pk, EmailKind.ONBOARDING)]
    assert list(ContactLink.objects.values_list("contact_id", "license_id")) == [(normal.pk, lic.pk)]
    assert License.objects.get().tenant_id == tenant.pk


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["signature", "header", "first frame", "middle", "checksum", "truncated"])
def test_a_damaged_archive_is_refused_without_touching_the_database(tenant, other_tenant, backup_dir, where):
    seed(tenant, other_tenant)
    name = backup.backup_create().name
    path = backup_dir / name
    size = path.stat().st_size
    if where == "truncated":
        path.write_bytes(path.read_bytes()[: size - 40])
    else:
        _flip(
            path,
            {
                "signature": 0,
                "header": len(backup.MAGIC) + 10,
                "first frame": 200,
                "middle": size // 2,
                "checksum": size - 1,
            }[where],
        )
    # Data changed since the backup must survive the refused restore untouched.
    checklist_services.checklist_replace_text(
        tenant=tenant, issue=issue_ref(), actor=ACTOR, text="- [ ] after the backup\n"
    )
    before = snapshot()
    with pytest.raises(CommandError, match="(damaged|not a HeroChecklist).*Nothing was written"):
        call_command("restore", name, "--yes", stdout=io.StringIO())
    with pytest.raises(CommandError, match="Nothing was written"):
        call_command("restore", name, "--yes", "--tenant", tenant.client_key, stdout=io.StringIO())
    assert snapshot() == before


def test_a_foreign_archive_is_refused(tenant, other_tenant, settings):
    seed(tenant, other_tenant)
    settings.BACKUP_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    name = backup.backup_create().name
    settings.BACKUP_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    before = snapshot()
    with pytest.raises(CommandError, match="foreign archive"):
        call_command("restore", name, "--yes", stdout=io.StringIO())
    assert snapshot() == before


def test_key_rotation_still_reads_old_archives(tenant, other_tenant, settings):
    seed(tenant, other_tenant)
    old = Fernet.generate_key().decode()
    settings.BACKUP_ENCRYPTION_KEYS = [old]
    name = backup.backup_create().name
    settings.BACKUP_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]
    assert backup.archive_verify(name)["tenants.tenant"] == 2


def test_one_site_is_restored_alone(tenant, other_tenant):
    seed(tenant, other_tenant)
    name = backup.backup_create().name
    archived_items = sorted(ChecklistItem.objects.filter(tenant=tenant).values_list("text", flat=True))
    # Both sites change after the backup; only A is restored.
    checklist_services.checklist_replace_text(tenant=tenant, issue=issue_ref(), actor=ACTOR, text="- [ ] A changed\n")
    checklist_services.checklist_replace_text(
        tenant=other_tenant, issue=issue_ref(SECOND_ISSUE), actor=ACTOR, text="- [ ] B changed\n"
    )
    out = io.StringIO()
    call_command("restore", name, "--yes", "--tenant", tenant.base_url, stdout=out)
    assert "tenants.tenant 1" in out.getvalue()
    assert sorted(ChecklistItem.objects.filter(tenant=tenant).values_list("text", flat=True)) == archived_items
    assert list(ChecklistItem.objects.filter(tenant=other_tenant).values_list("text", flat=True)) == ["B changed"]
    assert License.objects.get(addon_license_id="SEN-9").tenant_id == tenant.pk
    with pytest.raises(CommandError, match="no tenant"):
        call_command("restore", name, "--yes", "--tenant", "nobody.atlassian.net", stdout=io.StringIO())


@pytest.mark.slow(seconds=8)
@pytest.mark.usefixtures("long_db_operations")
def test_memory_stays_flat_as_data_grows(tenant, tmp_path, monkeypatch):
    # Small frames and reads, so both sizes span many of them: the bounded buffers (a frame, a read of rows) are
    # then the same in both.
    monkeypatch.setattr(backup, "FRAME_BYTES", 4 * 1024)
    monkeypatch.setattr(backup, "BATCH", 20)
    checklist = checklist_services.checklist_replace_text(
        tenant=tenant, issue=issue_ref(), actor=ACTOR, text="- [ ] a\n"
    )
    backup.backup_write(io.BytesIO())  # warm-up: first-use allocations (query compilation, imports) are not growth
    peaks = {}
    # Ten times the rows, each size many reads of BATCH rows: 5 and 50. (500 and 5,000 rows in reads of 100 on SQLite
    # cost 2.5 s more of CPU under tracemalloc; a backup holding every row still peaks 4.6 times higher at 1,000.)
    small, big = 100, 1_000
    for size in (small, big):
        missing = size - ChecklistItem.objects.count()
        ChecklistItem.objects.bulk_create(
            [
                ChecklistItem(tenant=tenant, checklist=checklist, text=f"item {n} " + os.urandom(8).hex())
                for n in range(missing)
            ],
            batch_size=1000,
        )
        tracemalloc.start()
        with open(tmp_path / f"{size}.bin", "wb") as out:
            backup.backup_write(out)
        peaks[size] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    # Ten times the rows, not ten times the memory: rows are streamed, never held all at once. (On SQLite the peak
    # is within a few percent; through SecantusDB it grows by up to 1.8x, from the driver, still far from 10x.)
    assert peaks[big] < peaks[small] * 2, peaks


# --- retention ---------------------------------------------------------------------------------------------------


def simulate(days: int, start=date(2026, 6, 1)):
    """One backup a day at 02:30 for `days` days, pruned after each; returns the survivors after each day."""
    stored: dict[str, datetime] = {}
    survivors = {}
    for n in range(days):
        today = start + timedelta(days=n)
        when = datetime(today.year, today.month, today.day, 2, 30, tzinfo=UTC)
        stored[backup.archive_name(when)] = when
        keep = backups_to_keep(stored, today)
        assert keep <= set(stored)
        stored = {name: stored[name] for name in keep}
        survivors[today] = sorted(name.removeprefix("herochecklist-")[:8] for name in stored)
    return survivors


def test_retention_over_half_a_year():
    survivors = simulate(183)  # 2026-06-01 (a Monday) to 2026-11-30
    # Day 5: all five so far.
    assert survivors[date(2026, 6, 5)] == ["20260601", "20260602", "20260603", "20260604", "20260605"]
    # A Wednesday: the last 8 days, and the 7 older Saturdays less than 8 weeks back (08-08 is 53 days old).
    assert survivors[date(2026, 9, 30)] == [
        "20260808",
        "20260815",
        "20260822",
        "20260829",
        "20260905",
        "20260912",
        "20260919",
        "20260923",
        "20260924",
        "20260925",
        "20260926",
        "20260927",
        "20260928",
        "20260929",
        "20260930",
    ]
    # The next Saturday: 08-08 is now 8 weeks old and pruned; 10-03 is both a daily and a weekly.
    assert survivors[date(2026, 10, 3)] == [
        "20260815",
        "20260822",
        "20260829",
        "20260905",
        "20260912",
        "20260919",
        "20260926",
        "20260927",
        "20260928",
        "20260929",
        "20260930",
        "20261001",
        "20261002",
        "20261003",
    ]
    # Every day of the half year, stated from the calendar: the last 8 days, plus every Saturday less than 8 weeks
    # back (never before the first backup).
    first = date(2026, 6, 1)
    for today, names in survivors.items():
        days = {today - timedelta(days=n) for n in range(8)}
        days |= {today - timedelta(days=n) for n in range(56) if (today - timedelta(days=n)).weekday() == 5}
        expected = sorted(f"{d:%Y%m%d}" for d in days if d >= first)
        assert names == expected, today
        assert len(names) <= 16


def test_several_backups_on_a_saturday_keep_the_last_as_weekly():
    sat = datetime(2026, 10, 3, tzinfo=UTC)
    taken = {f"b{h}": sat + timedelta(hours=h) for h in (1, 9, 23)}
    # The daily backups after it, up to the day asked about (the newest 8 backups are kept whatever their dates).
    later = {day: sat + timedelta(days=day, hours=2) for day in range(1, 57)}

    def kept(today: date) -> set[str]:
        upto = {f"d{day}": when for day, when in later.items() if when.date() <= today}
        return backups_to_keep({**taken, **upto}, today) & set(taken)

    assert kept(date(2026, 10, 4)) == {"b1", "b9", "b23"}  # daily window: all
    assert kept(date(2026, 10, 20)) == {"b23"}  # weekly only: the last one
    assert kept(date(2026, 11, 28)) == set()  # 8 weeks later
    assert backups_to_keep(taken, date(2026, 11, 28)) == {"b1", "b9", "b23"}  # but never the last ones standing


def test_a_clock_jumped_ahead_for_one_run_leaves_the_history_of_backups(backup_dir):
    """The daily run's clock a year ahead (a host booted with a wrong clock, before NTP corrected it): its archive is
    dated a year on, and its prune, measuring every age from that date, deleted every other archive. Once the clock
    was right again, one backup was left, and the weeks of history behind it were gone for good."""
    start = date(2026, 6, 1)
    for n in range(70):  # ten weeks of daily backups, pruned as beat prunes them
        day = start + timedelta(days=n)
        backup.backup_create(now=datetime(day.year, day.month, day.day, 2, 30, tzinfo=UTC))
        backup.backups_prune(today=day)
    before = backup.backup_list()
    assert len(before) == 15  # the last 8 days and the 7 older Saturdays less than 8 weeks back
    skewed = datetime(2027, 8, 9, 2, 30, tzinfo=UTC)  # the next day's run, a year ahead
    backup.backup_create(now=skewed)
    backup.backups_prune(today=skewed.date())
    # What the run would have left on the right day: the oldest daily goes (a Sunday), as each day's run drops one.
    oldest_daily = backup.archive_name(datetime(2026, 8, 2, 2, 30, tzinfo=UTC))
    assert backup.backup_list() == [name for name in before if name != oldest_daily] + [backup.archive_name(skewed)]
    # Back on time, daily runs prune by the calendar again: the skewed archive stays (it is dated in the future),
    # and once 8 newer days and 8 newer Saturdays exist, the history before them goes as it always would.
    day = start + timedelta(days=70)
    for n in range(70, 70 + 56):
        day = start + timedelta(days=n)
        backup.backup_create(now=datetime(day.year, day.month, day.day, 2, 30, tzinfo=UTC))
        backup.backups_prune(today=day)
    left = backup.backup_list()
    assert not set(before) & set(left)
    assert backup.archive_name(skewed) in left and len(left) == 16


def test_prune_deletes_from_storage(backup_dir):
    for day in range(1, 31):
        (backup_dir / backup.archive_name(datetime(2026, 9, day, 2, tzinfo=UTC))).write_bytes(b"x")
    (backup_dir / "unrelated.txt").write_text("kept")
    pruned = backup.backups_prune(today=date(2026, 9, 30))
    left = backup.backup_list()
    assert len(left) + len(pruned) == 30 and (backup_dir / "unrelated.txt").exists()
    assert left[0] == backup.archive_name(datetime(2026, 9, 5, 2, tzinfo=UTC))  # a Saturday


def test_superusers_restore_from_the_admin_page(staff, tenant, other_tenant):
    seed(tenant, other_tenant)
    name = backup.backup_create().name
    before = snapshot()
    assert staff("customer-data").get("/admin/backups/").status_code == 403
    client = staff("superuser")
    listing = client.get("/admin/backups/")
    assert listing.status_code == 200 and name in listing.content.decode()
    ChecklistItem.objects.filter(tenant=tenant).delete()
    wrong = client.post(f"/admin/backups/{name}/restore/", {"confirm": "yes"})
    assert wrong.status_code == 200 and b"exactly" in wrong.content
    assert not ChecklistItem.objects.filter(tenant=tenant).exists()
    done = client.post(f"/admin/backups/{name}/restore/", {"confirm": name})
    assert done.status_code == 302
    after = snapshot()
    assert {k: v for k, v in after.items() if k != "staff.AuditEntry"} == {
        k: v for k, v in before.items() if k != "staff.AuditEntry"
    }
    entry = AuditEntry.objects.get(action="restore")
    assert entry.object_ids == [name] and entry.actor_username == "superuser-user"


def test_a_backup_that_cannot_be_written_says_why_in_one_line_and_leaves_nothing(settings, tmp_path, tenant):
    # BACKUP_DIR under a regular file: every write fails as on a missing, read-only or full disk (the tests run as
    # root, which file modes would not stop). The operator's cron mail gets a line, not a traceback.
    from django.core.files.storage import storages

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {"BACKEND": settings.BACKUP_STORAGE_BACKEND, "OPTIONS": {"location": str(blocker / "backups")}},
    }
    storages._storages.pop("backups", None)
    try:
        with pytest.raises(CommandError, match=r"^backup failed, nothing was written: Not a directory$"):
            call_command("backup")
    finally:
        storages._storages.pop("backups", None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-directory"]


def test_an_archive_on_disk_is_its_owners_alone_whatever_the_storages_options(tenant, settings, tmp_path):
    """Options that name only a location, as BACKUP_STORAGE_OPTIONS may: no file_permissions_mode."""
    import stat

    from django.core.files.storage import storages

    folder = tmp_path / "backups"  # made by the first backup
    backend = "django.core.files.storage.FileSystemStorage"
    settings.STORAGES = {**settings.STORAGES, "backups": {"BACKEND": backend, "OPTIONS": {"location": str(folder)}}}
    storages._storages.pop("backups", None)
    try:
        result = backup.backup_create()
        assert stat.S_IMODE((folder / result.name).stat().st_mode) == 0o600
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    finally:
        storages._storages.pop("backups", None)
