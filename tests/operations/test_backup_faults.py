"""Backups under faults: a disk that fills up mid-write, a backup killed mid-write (its partial left behind), a restore
killed mid-write (its transaction left open on MongoDB)."""

import base64
import contextlib
import errno
import logging
import os
import subprocess
import threading
from datetime import UTC, date, datetime, timedelta

import pymongo
import pytest
from django.core.files import File
from django.core.files.storage import FileSystemStorage, storages
from django.core.management import CommandError, call_command
from django.db import connection

from checklists import services as checklist_services
from operations import backup
from tenants.models import Tenant
from tests.conftest import issue_ref

pytestmark = pytest.mark.django_db


def big_checklist(tenant) -> None:
    """Some 60 KB of archive: random text does not compress."""
    text = "".join(f"- [ ] {base64.b64encode(os.urandom(1400)).decode()}\n" for _ in range(40))
    checklist_services.checklist_replace_text(
        tenant=tenant, issue=issue_ref(), actor=checklist_services.Actor("557058:alice"), text=text
    )


def use_backups_storage(settings, backend: str, **options) -> None:
    settings.STORAGES = {**settings.STORAGES, "backups": {"BACKEND": backend, "OPTIONS": options}}
    storages._storages.pop("backups", None)


@pytest.fixture
def small_disk(tmp_path, settings):
    """The backups folder on a real 16 KB file system (a tmpfs: needs root, so skipped without it)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    use_backups_storage(settings, settings.BACKUP_STORAGE_BACKEND, location=str(disk), file_permissions_mode=0o600)
    yield disk
    storages._storages.pop("backups", None)
    subprocess.run(["umount", str(disk)], check=True)


class FillingFile(File):
    """A file on a disk with `room` bytes left: what fits is written, then the write fails as the kernel's does."""

    def __init__(self, file, room: int):
        super().__init__(file)
        self.room = room

    def write(self, data):
        if len(data) > self.room:
            self.file.write(data[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.file.write(data)


class FillingDiskStorage(FileSystemStorage):
    """A backups folder whose disk fills up after `room` bytes, for where a tmpfs cannot be mounted."""

    def __init__(self, room: int, **options):
        super().__init__(**options)
        self.room = room

    def open(self, name, mode="rb"):
        opened = super().open(name, mode)
        return FillingFile(opened.file, self.room) if "w" in mode else opened


def assert_nothing_left(folder) -> None:
    assert os.listdir(folder) == []  # no archive under its dated name, and no partial either
    assert backup.backup_list() == [] and backup.backups_prune() == []


def test_a_disk_filling_up_mid_backup_leaves_no_archive_and_no_partial(tenant, small_disk):
    big_checklist(tenant)
    with pytest.raises(OSError) as failed:
        backup.backup_create()
    assert failed.value.errno == errno.ENOSPC
    # Storage.save() left the archive's first 16 KB under its dated name: listed, counted by retention, restorable.
    assert_nothing_left(small_disk)
    disk = os.statvfs(small_disk)
    assert disk.f_bfree == disk.f_blocks  # the partial's blocks are free again


def test_a_write_failing_mid_archive_leaves_no_archive_and_no_partial(tenant, settings, tmp_path):
    big_checklist(tenant)
    use_backups_storage(settings, f"{__name__}.FillingDiskStorage", location=str(tmp_path), room=20_000)
    try:
        with pytest.raises(OSError) as failed:
            backup.backup_create()
        assert failed.value.errno == errno.ENOSPC
        assert_nothing_left(tmp_path)
    finally:
        storages._storages.pop("backups", None)


def test_partials_are_never_archives_and_a_killed_runs_is_removed_once_stale(tenant, backup_dir):
    good = backup.backup_create(now=datetime(2026, 11, 30, 2, tzinfo=UTC)).name
    # A run killed mid-write two hours ago, and one writing now (its partial changes all the time).
    killed = backup_dir / f".{backup.archive_name(datetime(2026, 11, 29, 2, tzinfo=UTC))}.4242-0badf00d.partial"
    running = backup_dir / f".{backup.archive_name(datetime(2026, 11, 30, 3, tzinfo=UTC))}.4343-0cafe000.partial"
    for partial in (killed, running):
        partial.write_bytes(b"the first part of an archive")
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
    os.utime(killed, (two_hours_ago, two_hours_ago))
    assert backup.backup_list() == [good]
    assert backup.backups_prune(today=date(2026, 11, 30)) == []  # only archives count, and the good one is kept
    assert sorted(os.listdir(backup_dir)) == sorted([good, running.name])  # the killed run's partial is gone


# --- a restore killed mid-write (MongoDB): its transaction stays open on the server -----------------------------------


class Waiting(logging.Handler):
    """Set once the restore says it met a conflict and will try again."""

    def __init__(self):
        super().__init__()
        self.seen = threading.Event()

    def emit(self, record):
        if record.getMessage().startswith("restore conflicted"):
            self.seen.set()


@pytest.fixture
def killed_restores_transaction(tenant):
    """What a restore killed mid-write leaves on MongoDB: a transaction still open on the server, holding a record
    it wrote (here the site's row), whose client is gone. The server aborts it after transactionLifetimeLimitSeconds
    (60 s); the fixture yields the session, whose abort_transaction() is that abort come early."""
    if connection.vendor != "mongodb":
        pytest.skip("SQLite ends a killed process's transaction with the process (its lock goes with it)")
    other = pymongo.MongoClient(connection.settings_dict["HOST"])  # another process's client
    session = other.start_session()
    session.start_transaction()
    other[connection.settings_dict["NAME"]][Tenant._meta.db_table].update_one(
        {}, {"$set": {"base_url": "https://half-restored.atlassian.net"}}, session=session
    )
    yield session
    with contextlib.suppress(pymongo.errors.PyMongoError):
        session.abort_transaction()
    other.close()


@pytest.mark.django_db(transaction=True)
def test_a_restore_meeting_a_killed_restores_transaction_is_refused_as_busy_not_as_a_bad_archive(
    tenant, backup_dir, killed_restores_transaction, settings
):
    name = backup.backup_create().name
    with pytest.raises(backup.RestoreRefused) as refused:
        backup.archive_restore(name)  # no wait, as the admin page asks: it said "the archive's records" were bad
    assert "busy" in str(refused.value)
    settings.RESTORE_BUSY_WAIT_SECONDS = 0
    with pytest.raises(CommandError) as failed:
        call_command("restore", name, "--yes")
    assert "database refused the restore" in str(failed.value) and "archive's records" not in str(failed.value)
    assert backup.archive_verify(name)  # the archive is fine


@pytest.mark.django_db(transaction=True)
def test_a_re_run_after_a_killed_restore_waits_for_its_transaction_to_end_then_lands(
    tenant, backup_dir, killed_restores_transaction
):
    name = backup.backup_create().name
    waiting = Waiting()
    logging.getLogger("operations.backup").addHandler(waiting)
    outcome: dict = {}

    def restore():
        try:
            outcome["restored"] = backup.archive_restore(name, busy_wait=60)
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connection.close()  # this thread's own connection

    runner = threading.Thread(target=restore)
    try:
        runner.start()
        assert waiting.seen.wait(30), outcome  # it met the open transaction, and waits
        killed_restores_transaction.abort_transaction()  # the server's lifetime limit, come early
        runner.join(60)
    finally:
        logging.getLogger("operations.backup").removeHandler(waiting)
    assert outcome.get("restored", {}).get("tenants.tenant") == 1, outcome
    assert Tenant.objects.get().base_url == tenant.base_url
