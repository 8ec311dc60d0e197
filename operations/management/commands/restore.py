import getpass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from operations.backup import LEFT_OUT, ArchiveError, RestoreRefused, archive_restore, archive_verify
from staff.models import AuditAction, AuditEntry


class Command(BaseCommand):
    help = (
        "Replace all application data (or one site's, with --tenant) with an archive's, after checking the whole "
        "archive. A damaged or foreign archive is refused and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", help="an archive name in the backups storage, or a file path")
        parser.add_argument("--tenant", help="restore only this site: id, clientKey, installationId or host")
        parser.add_argument("--verify-only", action="store_true", help="check the archive, write nothing")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args, archive, tenant, verify_only, yes, **options):
        try:
            if verify_only:
                counts = archive_verify(archive)
                self.stdout.write(f"{archive}: intact, {sum(counts.values())} records")
                return
            scope = f"the data of site {tenant!r}" if tenant else "ALL application data"
            if not yes and input(f"Replace {scope} with {archive}? Type 'restore' to go on: ").strip() != "restore":
                raise CommandError("cancelled; nothing was written")
            restored = archive_restore(archive, tenant=tenant, busy_wait=settings.RESTORE_BUSY_WAIT_SECONDS)
        except ArchiveError as exc:
            raise CommandError(f"{exc}. Nothing was written.") from exc
        except RestoreRefused as exc:  # the database's doing, not the archive's: say so, and that a re-run is safe
            raise CommandError(f"The database refused the restore: {exc}.") from exc
        # The trail records the restore itself (the admin page does the same for its restores).
        AuditEntry.objects.create(
            actor_id="cli",
            actor_username=f"manage.py:{getpass.getuser()}"[:150],
            action=AuditAction.RESTORE,
            detail=(f"tenant {tenant}" if tenant else "all data")[:100],
            model="core.backup",
            object_ids=[str(archive)],
            object_count=sum(restored.values()),
        )
        summary = ", ".join(f"{label} {n}" for label, n in restored.items()) or "no records"
        self.stdout.write(f"restored from {archive}: {summary}")
        if restored.purged_left_out:
            self.stdout.write(LEFT_OUT.format(restored.purged_left_out))
