from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType


def permission_names(perms) -> set[str]:
    """ "app_label.codename" for a Permission queryset, without the join (see PermissionBackend)."""
    rows = list(perms.values_list("content_type_id", "codename").order_by())
    if not rows:
        return set()
    labels = dict(ContentType.objects.filter(pk__in={ct for ct, _ in rows}).values_list("pk", "app_label"))
    return {f"{labels[ct]}.{codename}" for ct, codename in rows if ct in labels}


class PermissionBackend(ModelBackend):
    """Django's ModelBackend, reading a permission's app label from the content-type cache instead of a join.

    ModelBackend asks for values_list("content_type__app_label", ...); SecantusDB (the MongoDB-protocol server of our
    test suite) answers that joined column with 1 instead of the label, which silently took every role's permissions
    away. The labels come from one more query, only when there are permissions to name."""

    def _get_permissions(self, user_obj, obj, from_name):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        cache_name = f"_{from_name}_perm_cache"
        if not hasattr(user_obj, cache_name):
            if user_obj.is_superuser:
                perms = Permission.objects.all()
            else:
                perms = getattr(self, f"_get_{from_name}_permissions")(user_obj)
            setattr(user_obj, cache_name, permission_names(perms))
        return getattr(user_obj, cache_name)
