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
    """Create or correct every role group. Idempotent; permissions must exist (migrate creates them, and they are
    created here when one is missing)."""
    from django.contrib.auth.management import create_permissions

    Group = apps.get_model("auth", "Group")
    found = _role_permissions(using, apps)
    if len(found) < len(_WANTED):
        # A permission the table names is not there yet (post_migrate sends our signal before some apps' own):
        # create every app's, as migrate would. Otherwise this is skipped: it reads every app's content types and
        # permissions, which made each `createstaff` some ninety queries instead of ten.
        for app_config in apps.get_app_configs():
            create_permissions(app_config, verbosity=0, using=using, apps=apps)
        found = _role_permissions(using, apps)
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        missing = [dotted for dotted in codenames if dotted not in found]
        if missing:
            raise Permission.DoesNotExist(f"role {name!r} names permissions that do not exist: {', '.join(missing)}")
        group, _ = Group.objects.using(using).get_or_create(name=name)
        wanted = {found[dotted].pk for dotted in codenames}
        # Read from the many-to-many table itself: the relation's own read orders by Permission's Meta.ordering,
        # a join with content types (a MongoDB $lookup) on every `createstaff`, where it seldom changes anything.
        granted = Group.permissions.through.objects.using(using).filter(group_id=group.pk)
        if set(granted.values_list("permission_id", flat=True)) != wanted:
            group.permissions.set(wanted)


_WANTED = frozenset(dotted for codenames in ROLES.values() for dotted in codenames)


def _role_permissions(using: str, apps) -> dict:
    """The permissions the roles name that exist, by "app_label.codename", in two queries (no join: SecantusDB, the
    tests' MongoDB server, answers a joined column wrongly, see staff/secantus.py)."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    labels = dict(
        ContentType.objects.using(using)
        .filter(app_label__in={dotted.split(".")[0] for dotted in _WANTED})
        .values_list("pk", "app_label")
    )
    codenames = {dotted.split(".")[1] for dotted in _WANTED}
    # No ordering: Permission's Meta.ordering is a join with content types.
    permissions = Permission.objects.using(using).filter(content_type_id__in=labels, codename__in=codenames).order_by()
    found = {f"{labels[p.content_type_id]}.{p.codename}": p for p in permissions}
    return {dotted: permission for dotted, permission in found.items() if dotted in _WANTED}


def sync_roles_after_migrate(sender, using=DEFAULT_DB_ALIAS, apps=global_apps, **kwargs):
    # post_migrate is sent once per app; run once, for our last app, when every permission can exist.
    if sender.label == "contacts":
        sync_roles(using=using)
