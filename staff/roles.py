"""Staff roles as Django groups with exact permissions. `sync_roles` makes the groups match this table (it runs after
every migrate and from `manage.py sync_roles`), so a permission granted by hand to a role's group does not survive."""

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS

SUPPORT = "Support"
CUSTOMER_DATA = "Customer data"
BILLING = "Billing and CRM"

_SUPPORT = (
    "tenants.view_tenant",
    "checklists.view_checklist",
    "checklists.view_checklistitem",  # item text masked without view_item_text
    "checklists.view_template",  # template text masked likewise
)
ROLES: dict[str, tuple[str, ...]] = {
    SUPPORT: _SUPPORT,
    CUSTOMER_DATA: (*_SUPPORT, "checklists.view_item_text", "checklists.view_checklistchange"),
    BILLING: (
        "contacts.view_contact",
        "contacts.view_license",
        "contacts.view_contactlink",
        "contacts.retry_sync",
        "contacts.import_licenses",
        "contacts.export_contacts",
    ),
}
# `createstaff --role` names: the groups above plus Django's superuser flag (everything, and the audit log).
ROLE_CHOICES = {"support": SUPPORT, "customer-data": CUSTOMER_DATA, "billing": BILLING, "superuser": None}


def sync_roles(using: str = DEFAULT_DB_ALIAS, apps=global_apps) -> None:
    """Create or correct every role group. Idempotent; permissions must exist (migrate creates them)."""
    from django.contrib.auth.management import create_permissions

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using, apps=apps)
    for name, codenames in ROLES.items():
        wanted = []
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            wanted.append(Permission.objects.using(using).get(content_type__app_label=app_label, codename=codename))
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.set(wanted)


def sync_roles_after_migrate(sender, using=DEFAULT_DB_ALIAS, apps=global_apps, **kwargs):
    # post_migrate is sent once per app; run once, for our last app, when every permission can exist.
    if sender.label == "contacts":
        sync_roles(using=using)
