"""An account Atlassian reported closed stays erased across a restore: a backup taken before the erasure still names
it, and a restore (into the same database or an empty one, all data or one site's) pseudonymises it again in its own
transaction, from the ledger of erased accounts kept beside the backups (keyed hashes: never the accountId itself)."""

import base64
import io
import os
import shutil

import pytest
from django.core.files.storage import storages
from django.core.management import call_command
from django.utils import timezone

from operations import backup, privacy
from operations.models import ReportedAccount
from operations.privacy import accounts_pseudonymise
from staff.models import AuditEntry
from tests.operations.test_privacy import ACTIVE, CLOSED, seed, stored

pytestmark = pytest.mark.django_db(transaction=True)

ONLY_REPORTED = "557058:reported-then-closed"


@pytest.fixture(autouse=True)
def _backups(backup_dir):
    return backup_dir


def _empty_database():
    backup._delete_existing(None, None)
    AuditEntry._base_manager.all()._raw_delete(AuditEntry._base_manager.db)


@pytest.mark.parametrize("scope", ["all", "site", "empty-database"])
def test_a_restore_of_an_archive_taken_before_an_erasure_erases_the_account_again(scope, tenant, backup_dir):
    seed(tenant)
    # Reported to Atlassian before it closed, and named nowhere else any more: the restore must find it there too.
    ReportedAccount.objects.create(account_id=ONLY_REPORTED, reported_at=timezone.now())
    name = backup.backup_create().name
    accounts_pseudonymise({CLOSED, ONLY_REPORTED})
    assert CLOSED not in stored()
    if scope == "empty-database":
        _empty_database()

    args = ["--tenant", tenant.client_key] if scope == "site" else []
    call_command("restore", name, "--yes", *args, stdout=io.StringIO())

    after = stored()
    assert CLOSED not in after
    assert privacy.PSEUDONYM_PREFIX in after  # the history still reads "one person did these"
    assert ACTIVE in after  # an account never closed is restored as it was
    assert not ReportedAccount.objects.filter(account_id__in=[CLOSED, ONLY_REPORTED]).exists()  # not in clear there
    # The ledger keeps no accountId, only keyed hashes.
    ledger = backup_dir / privacy.ERASED_FOLDER
    assert len(list(ledger.iterdir())) == 2
    assert not any(CLOSED in p.name or CLOSED in p.read_text() for p in ledger.iterdir())


def test_the_ledger_outlives_a_backup_key_rotation(tenant, settings):
    """A new first key writes; the ledger written under the old one still counts while that key is listed (as long
    as the archives it encrypted can be read at all)."""
    seed(tenant)
    name = backup.backup_create().name
    accounts_pseudonymise({CLOSED})
    settings.BACKUP_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(os.urandom(32)).decode(),
        *settings.BACKUP_ENCRYPTION_KEYS,
    ]

    call_command("restore", name, "--yes", stdout=io.StringIO())

    assert CLOSED not in stored() and ACTIVE in stored()


def test_an_archive_copied_to_a_new_host_brings_its_erased_accounts_folder(
    tenant, backup_dir, tmp_path_factory, settings
):
    """A new host's backups storage is empty; the archive was copied with the ledger folders beside it (the README:
    a restore from an archive file outside the storage reads the folders next to it)."""
    seed(tenant)
    name = backup.backup_create().name
    accounts_pseudonymise({CLOSED})
    copied = tmp_path_factory.mktemp("copied")
    shutil.copy(backup_dir / name, copied / name)
    shutil.copytree(backup_dir / privacy.ERASED_FOLDER, copied / privacy.ERASED_FOLDER)
    new_host = tmp_path_factory.mktemp("new-host")
    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {**settings.STORAGES["backups"], "OPTIONS": {"location": str(new_host)}},
    }
    storages._storages.pop("backups", None)
    _empty_database()

    call_command("restore", str(copied / name), "--yes", stdout=io.StringIO())

    assert CLOSED not in stored() and ACTIVE in stored()
