"""Code that exists only because SecantusDB (the MongoDB-protocol server of our test suite) differs from MongoDB.

Settings use it only when the tests run on SecantusDB (HEROCHECKLIST_TESTING with a mongodb:// DATABASE_URL);
production, on SQLite or on MongoDB, uses Django's own ModelBackend. Delete this module when SecantusDB answers a
joined values_list like MongoDB does."""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType


def _permission_names(perms) -> set[str]:
    """ "app_label.codename" for a Permission queryset, without the join."""
    rows = list(perms.values_list("content_type_id", "codename").order_by())
    if not rows:
        return set()
    labels = dict(ContentType.objects.filter(pk__in={ct for ct, _ in rows}).values_list("pk", "app_label"))
    return {f"{labels[ct]}.{codename}" for ct, codename in rows if ct in labels}


class SecantusPermissionBackend(ModelBackend):
    """Django's ModelBackend, reading a permission's app label with a second query instead of a join.

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
                perms = getattr(self, f"_get_{from_name}_permissions")(user_obj)
            setattr(user_obj, cache_name, _permission_names(perms))
        return getattr(user_obj, cache_name)
