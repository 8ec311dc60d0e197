from django.core.management.base import BaseCommand, CommandError

from operations.backup import backup_create, backups_prune


class Command(BaseCommand):
    help = "Write an encrypted, checksummed archive of all application data to the backups storage (BACKUP_DIR)."

    def add_arguments(self, parser):
        parser.add_argument("--prune", action="store_true", help="then delete what the retention policy drops")

    def handle(self, *args, prune, **options):
        try:
            result = backup_create()
        except OSError as exc:
            # A full disk, a missing or read-only BACKUP_DIR: what an operator acts on, in one line (backup_create
            # removed its partial file), and the exit status 1 that cron and the scheduler see.
            raise CommandError(f"backup failed, nothing was written: {exc.strerror or exc}") from exc
        records = sum(result.counts.values())
        self.stdout.write(f"{result.name}: {result.size} bytes, {records} records, sha256 {result.sha256}")
        if prune:
            for name in backups_prune():
                self.stdout.write(f"pruned {name}")
