"""Code that exists only because SecantusDB (the MongoDB-protocol server of our test suite) differs from MongoDB.

Settings use it only when the tests run on SecantusDB (HEROCHECKLIST_TESTING with a mongodb:// DATABASE_URL);
production, on SQLite or on MongoDB, uses Django's own ModelBackend. Delete this module when SecantusDB answers a
joined values_list like MongoDB does."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType


def _permission_names(perms) -> set[str]:
    """ "app_label.codename" for a Permission queryset, without the join."""
    rows = list(perms.values_list("content_type_id", "codename").order_by())
    if not rows:
        return set()
    labels = dict(ContentType.objects.filter(pk__in={ct for ct, _ in rows}).values_list("pk", "app_label"))
    return {f"{labels[ct]}.{codename}" for ct, codename in rows if ct in labels}


def _granted_ids(user_obj, from_name: str) -> list[int]:
    """The ids of the permissions granted to the user directly ("user") or through its groups ("group"), read from
    the many-to-many tables one at a time. ModelBackend's one query joins auth_permission to them, which SecantusDB
    answers in about 45 ms (its joins scan in Python): that was two thirds of its time in the admin console tests."""
    User = get_user_model()
    if from_name == "user":
        through = User.user_permissions.through.objects.filter(user_id=user_obj.pk)
        return list(through.values_list("permission_id", flat=True))
    groups = list(User.groups.through.objects.filter(user_id=user_obj.pk).values_list("group_id", flat=True))
    if not groups:
        return []
    return list(Group.permissions.through.objects.filter(group_id__in=groups).values_list("permission_id", flat=True))


class SecantusPermissionBackend(ModelBackend):
    """Django's ModelBackend, with no join: a permission's app label read with a second query, and the user's and
    its groups' permissions from the many-to-many tables (_granted_ids).

    ModelBackend asks for values_list("content_type__app_label", ...); SecantusDB answers that joined column with 1
    instead of the label, which silently took every role's permissions away."""

    def _get_permissions(self, user_obj, obj, from_name):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        cache_name = f"_{from_name}_perm_cache"
        if not hasattr(user_obj, cache_name):
            if user_obj.is_superuser:
                perms = Permission.objects.all()
            else:
                ids = _granted_ids(user_obj, from_name)
                perms = Permission.objects.filter(pk__in=ids) if ids else Permission.objects.none()
            setattr(user_obj, cache_name, _permission_names(perms))
        return getattr(user_obj, cache_name)
