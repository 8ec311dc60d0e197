from django.core.management.base import BaseCommand

from tenants.services import tenant_rotate_encryption


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under the first key of FIELD_ENCRYPTION_KEYS. "
        "Rotation: put the new key first, keep the old one after it, run this, then drop the old key."
    )

    def handle(self, *args, **options):
        changed = tenant_rotate_encryption()
        self.stdout.write(f"re-encrypted secrets of {changed} tenant(s)")
