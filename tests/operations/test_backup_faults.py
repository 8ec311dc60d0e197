"""Backups under faults: a disk that fills up mid-write, a run killed mid-write (its partial left behind)."""

import base64
import errno
import os
import subprocess
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.files import File
from django.core.files.storage import FileSystemStorage, storages

from checklists import services as checklist_services
from operations import backup
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
