from django.core.management.base import BaseCommand

from staff.roles import ROLES, sync_roles


class Command(BaseCommand):
    help = "Create or correct the staff role groups (also runs after every migrate)."

    def handle(self, *args, **options):
        sync_roles()
        for name, permissions in ROLES.items():
            self.stdout.write(f"{name}: {', '.join(permissions)}")
