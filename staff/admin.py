"""Admin building blocks: the audited, read-only base for customer-data pages, the audit log page, and second-factor
devices shown without their secrets."""

import json
from typing import cast

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.admin.options import get_content_type_for_model
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db.models import ForeignKey, Model, Q
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpResponseRedirect
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from .audit import audit_record, filter_hash, search_hash_candidates
from .models import AuditAction, AuditEntry
from .roles import ROLES

# Fields that only some roles may read: (app_label.modelname, field) -> the permission that reads it. Apps register
# their own (checklists/admin.py); a role without the permission can neither see nor search nor filter by them,
# since any lookup on a field (`?text__startswith=a`) answers yes or no about its content.
HIDDEN_FIELDS: dict[tuple[str, str], str] = {}


def hide_field(model_label: str, field_name: str, *, permission: str) -> None:
    HIDDEN_FIELDS[(model_label.lower(), field_name)] = permission


def hidden_in_lookup(request, model, lookup: str) -> str | None:
    """The hidden field this lookup (or search field, or ordering) reaches for this user, following relations, or
    None. Names that are not fields (lookups such as `startswith`, transforms) end the walk."""
    for part in lookup.lstrip("-^=@").split(LOOKUP_SEP):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return None
        permission = HIDDEN_FIELDS.get((model._meta.label_lower, field.name))
        if permission and not request.user.has_perm(permission):
            return f"{model._meta.label_lower}.{field.name}"
        if not field.is_relation or field.related_model is None:
            return None
        model = field.related_model
    return None


# A cell starting with one of these is run as a formula by Excel, LibreOffice or Google Sheets (tab and carriage
# return too: some strip them and then read the rest); full-width forms are folded to these by some of them.
_FORMULA_STARTS = tuple("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")


def csv_cell(value) -> str:
    """A value for a CSV export that a spreadsheet shows as text: a leading quote keeps `=HYPERLINK(...)` inert. Leading
    spaces do not make a formula safe: some spreadsheets trim them on import."""
    text = "" if value is None else str(value)
    return "'" + text if text.lstrip(" \u00a0\u3000").startswith(_FORMULA_STARTS) else text


class PageRelatedChangeList(ChangeList):
    """Loads the page's related rows with one query per relation (ModelAdmin.page_related) after the page is cut,
    instead of joining before it: on a large table the join would run over every row the sort must consider."""

    model_admin: "AuditedAdmin"

    def get_results(self, request):
        super().get_results(request)
        rows = list(self.result_list)
        for name in self.model_admin.page_related:
            field = cast(ForeignKey, self.model._meta.get_field(name))
            wanted = {getattr(row, field.attname) for row in rows} - {None}
            related = cast(type[Model], field.related_model)._default_manager.in_bulk(wanted)
            for row in rows:
                field.set_cached_value(row, related.get(getattr(row, field.attname)))
        self.result_list = rows


class ReadOnlyAdmin(admin.ModelAdmin):
    """Pages to look at: nobody adds, changes or deletes through them, whatever their permissions."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _log_by_id(request, objects, action_flag: int, message) -> list[LogEntry]:
    message = json.dumps(message) if isinstance(message, list) else message
    return [
        LogEntry.objects.create(
            user_id=request.user.pk,
            content_type_id=get_content_type_for_model(obj).pk,
            object_id=str(obj.pk),
            object_repr=str(obj.pk),
            action_flag=action_flag,
            change_message=message,
        )
        for obj in objects
    ]


class AuditedAdmin(ReadOnlyAdmin):
    """Every page or action that shows or touches customer records leaves exactly one audit entry naming the records
    (never their data). Pages are read-only unless a subclass says otherwise: writes go through the services."""

    list_per_page = 100
    # One COUNT per page instead of two; the unfiltered total of a large table is not worth a second scan.
    show_full_result_count = False
    # Foreign keys shown in the list, loaded for the page only (see PageRelatedChangeList); list_select_related is
    # left empty so Django does not join them as well.
    page_related: tuple[str, ...] = ()

    def get_changelist(self, request, **kwargs):
        return PageRelatedChangeList

    def lookup_allowed(self, lookup, value, request=None):
        # Every filter parameter of a list comes through here: one on a field the role may not read is refused (400).
        if request is not None and hidden_in_lookup(request, self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_search_fields(self, request):
        return [f for f in super().get_search_fields(request) if not hidden_in_lookup(request, self.model, f)]

    def get_sortable_by(self, request):
        # Callables sort by what they compute, not by a field name a role could probe.
        return [
            f
            for f in super().get_sortable_by(request)
            if not isinstance(f, str) or not hidden_in_lookup(request, self.model, f)
        ]

    # Django's own log of admin changes (django_admin_log, the history page) would keep str(obj), a contact's email or
    # a site's name, long after a purge erased the record, in a table no purge reaches: ours name it by id instead.
    def log_addition(self, request, obj, message):
        return _log_by_id(request, [obj], ADDITION, message)[0]

    def log_change(self, request, obj, message):
        return _log_by_id(request, [obj], CHANGE, message)[0]

    def log_deletions(self, request, queryset):
        return _log_by_id(request, queryset, DELETION, "")

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        cl = (getattr(response, "context_data", None) or {}).get("cl")
        # Whatever the method: a POST that runs no action (none named, or nothing selected) draws the list as well.
        if cl is not None:
            # Evaluating the page's queryset here caches it, so the template renders the same rows without a query.
            # The query string is part of the record: what was searched and filtered for is what was looked at.
            audit_record(
                request=request,
                action=AuditAction.LIST,
                model=self.model,
                object_ids=[o.pk for o in cl.result_list],
                with_query=True,
            )
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        # A 200 draws the record, a GET or a rejected POST (the form again, with the record's data).
        if response.status_code == 200:
            audit_record(request=request, action=AuditAction.VIEW, model=self.model, object_ids=[object_id])
        elif request.method == "POST" and isinstance(response, HttpResponseRedirect):
            audit_record(request=request, action=AuditAction.CHANGE, model=self.model, object_ids=[object_id])
        return response

    def delete_view(self, request, object_id, extra_context=None):
        response = super().delete_view(request, object_id, extra_context)
        if request.method == "POST" and isinstance(response, HttpResponseRedirect):
            audit_record(request=request, action=AuditAction.DELETE, model=self.model, object_ids=[object_id])
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        if response.status_code == 200:
            audit_record(request=request, action=AuditAction.VIEW_HISTORY, model=self.model, object_ids=[object_id])
        return response

    def response_action(self, request, queryset):
        name = request.POST.get("action", "")
        select_across = request.POST.get("select_across") == "1"
        selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
        response = super().response_action(request, queryset)
        if name in self.get_actions(request) and (selected or select_across) and not getattr(request, "audit_skip", 0):
            action = AuditAction.EXPORT if name.startswith("export") else AuditAction.ACTION
            ids = ["*"] if select_across else selected
            count = queryset.count() if select_across else len(selected)
            # With the query string: "all matching" (["*"]) is all that the list's search and filters matched.
            audit_record(
                request=request,
                action=action,
                model=self.model,
                object_ids=ids,
                object_count=count,
                detail=name,
                with_query=True,
            )
        return response


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Superusers read the log; nobody writes, changes or deletes it here (the model refuses too).

    The search box also answers "who searched or filtered for this text, and when": the term is hashed as the trail
    hashes what staff type (staff.audit), under the current and the fallback SECRET_KEYs. Such a lookup is itself
    audited (action `lookup`, its term hashed too)."""

    list_display = (
        "created_at",
        "actor_username",
        "action",
        "detail",
        "model",
        "object_count",
        "search_kind",
        "search_length",
        "ip_address",
    )
    list_filter = ("action", "model", "search_kind")
    search_fields = ("actor_username", "model", "ip_address", "path")
    search_help_text = "Staff, model, address or path; or a text staff may have searched or filtered for (exact)."
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
    date_hierarchy = "created_at"
    list_per_page = 100
    show_full_result_count = False
    actions = None

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def get_search_results(self, request, queryset, search_term):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if not search_term.strip():
            return found, may_have_duplicates
        hashes = search_hash_candidates(search_term)
        searched = Q(search_hash__in=hashes)
        for hashed in hashes:
            searched |= Q(path__contains=filter_hash(hashed))
        return found | queryset.filter(searched), may_have_duplicates

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        cl = (getattr(response, "context_data", None) or {}).get("cl")
        # Looking someone up in the trail is a look at customer data like any other: who asked, and what it found.
        if cl is not None and cl.query.strip():
            audit_record(
                request=request,
                action=AuditAction.LOOKUP,
                model=AuditEntry,
                object_ids=[o.pk for o in cl.result_list],
                with_query=True,
            )
        return response


# django-otp's own device pages show TOTP keys and recovery codes; ours show only which devices exist.
for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(TOTPDevice, StaticDevice)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    fields = ("user", "name", "confirmed", "created_at", "last_used_at")
    readonly_fields = ("user", "name", "created_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "name")

    def has_add_permission(self, request):
        return False  # `manage.py createstaff --reset-otp` provisions devices and shows the key once


# Permissions come from roles only (staff/roles.py): no per-user grants, and groups are shown, not edited here
# (sync_roles would undo an edit at the next migrate).
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class StaffAdmin(UserAdmin):
    list_display = ("username", "email", "is_active", "is_superuser", "second_factor", "last_login")
    # Someone added here has no second factor and cannot sign in (OTPAdminSite): say so where a superuser adds them.
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "usable_password", "password1", "password2"),
                "description": (
                    "Staff are made on the server with `manage.py createstaff NAME --role ROLE`, which also sets up "
                    "their authenticator and recovery codes. Someone added here has no second factor and cannot "
                    "sign in until `manage.py createstaff NAME --role ROLE --reset-otp` gives them one."
                ),
            },
        ),
    )
    list_filter = ("is_active", "is_superuser", "groups")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    readonly_fields = ("last_login", "date_joined")

    @admin.display(description="Second factor")
    def second_factor(self, obj):
        # One query a row: staff are a handful, and this page is superusers' only.
        if TOTPDevice.objects.filter(user=obj, confirmed=True).exists():
            return "authenticator"
        return f"none: createstaff {obj.get_username()} --role ROLE --reset-otp"


@admin.register(Group)
class RoleAdmin(ReadOnlyAdmin):
    list_display = ("name", "permission_names")
    fields = ("name", "permission_names")
    readonly_fields = fields

    @admin.display(description="permissions")
    def permission_names(self, obj):
        # Labels from the content-type cache: one query for the permissions, none per row.
        names = (
            f"{ContentType.objects.get_for_id(ct).app_label}.{codename}"
            for ct, codename in obj.permissions.values_list("content_type_id", "codename")
        )
        return ", ".join(sorted(names))

    def has_delete_permission(self, request, obj=None):
        return obj is not None and obj.name not in ROLES and admin.ModelAdmin.has_delete_permission(self, request, obj)
