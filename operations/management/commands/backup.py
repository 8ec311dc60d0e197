from django.core.management.base import BaseCommand

from operations.backup import backup_create, backups_prune


class Command(BaseCommand):
    help = "Write an encrypted, checksummed archive of all application data to the backups storage (BACKUP_DIR)."

    def add_arguments(self, parser):
        parser.add_argument("--prune", action="store_true", help="then delete what the retention policy drops")

    def handle(self, *args, prune, **options):
        result = backup_create()
        records = sum(result.counts.values())
        self.stdout.write(f"{result.name}: {result.size} bytes, {records} records, sha256 {result.sha256}")
        if prune:
            for name in backups_prune():
                self.stdout.write(f"pruned {name}")
