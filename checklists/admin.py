"""Checklist pages. Support sees metadata (site, issue, counts, dates); item and template text and the history need
the Customer data role (checklists.view_item_text). Everything here is read-only: writes go through the services."""

from django.contrib import admin
from django.db.models import Q
from django.utils.html import format_html
from django.utils.text import Truncator

from staff.admin import AuditedAdmin, hidden_in_lookup, hide_field

from .models import Checklist, ChecklistChange, ChecklistItem, Template

TEXT_PERMISSION = "checklists.view_item_text"
# Not readable, so not searchable, filterable or sortable either, from any list of the console (core/admin.py).
for _label, _field in (
    ("checklists.ChecklistItem", "text"),
    ("checklists.Template", "text"),
    ("checklists.ChecklistChange", "changes"),
    ("checklists.ChecklistChange", "actor_account_id"),
):
    hide_field(_label, _field, permission=TEXT_PERMISSION)


def _can_read_text(request) -> bool:
    return request.user.has_perm(TEXT_PERMISSION)


def _hidden(text: str) -> str:
    return f"hidden ({len(text)} characters)"


MAX_SEARCH_CHECKLISTS = 1000


class TextMaskingAdmin(AuditedAdmin):
    """Shows `text` only to staff allowed to read it; others get its length, and cannot search by it either
    (a search would reveal text one guess at a time)."""

    text_search_fields: tuple[str, ...] = ()

    @admin.display(description="text")
    def text_shown(self, obj):
        return Truncator(obj.text).chars(100)

    @admin.display(description="text")
    def text_hidden(self, obj):
        return _hidden(obj.text)

    def get_list_display(self, request):
        swap = "text_shown" if _can_read_text(request) else "text_hidden"
        return [swap if name == "text" else name for name in self.list_display]

    def get_fields(self, request, obj=None):
        if _can_read_text(request):
            return self.fields
        return [("text_hidden" if name == "text" else name) for name in self.fields]

    def get_readonly_fields(self, request, obj=None):
        return [*self.get_fields(request, obj), "text_hidden"]

    def get_search_fields(self, request):
        fields = (*self.search_fields, *self.text_search_fields)
        return [f for f in fields if not hidden_in_lookup(request, self.model, f)]


class IssueKeySearchAdmin(TextMaskingAdmin):
    """Rows of a checklist, searched by exact issue key (DEMO-1) and, where allowed, by text. The key is resolved to
    checklist ids first, so the search never joins the whole table to its checklists."""

    search_fields = ("checklist__issue_key",)  # shown as the search box's hint; the lookup is below
    search_help_text = "Exact issue key, or words of the text where your role can read it."

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        checklists = Checklist.objects.filter(issue_key__iexact=term).values_list("id", flat=True)
        condition = Q(checklist_id__in=list(checklists[:MAX_SEARCH_CHECKLISTS]))
        if _can_read_text(request):
            for field in self.text_search_fields:
                condition |= Q(**{f"{field}__icontains": term})
        return queryset.filter(condition), False


@admin.register(Checklist)
class ChecklistAdmin(AuditedAdmin):
    list_display = ("__str__", "tenant", "done_count", "total_count", "mandatory_open_count", "version", "updated_at")
    list_select_related = ()
    page_related = ("tenant",)
    search_fields = ("issue_key", "issue_id", "tenant__base_url")
    ordering = ("-updated_at",)
    readonly_fields = fields = (
        "id",
        "tenant",
        "issue_id",
        "issue_key",
        "project_id",
        "issue_type_id",
        "version",
        "done_count",
        "total_count",
        "mandatory_open_count",
        "property_synced_version",
        "items_link",
        "created_at",
        "updated_at",
    )

    @admin.display(description="items")
    def items_link(self, obj):
        return format_html(
            '<a href="../../../checklistitem/?checklist__exact={}">{} item(s)</a>', obj.pk, obj.total_count
        )


@admin.register(ChecklistItem)
class ChecklistItemAdmin(IssueKeySearchAdmin):
    list_display = ("id", "text", "checklist", "tenant", "status", "is_header", "mandatory", "due_date", "updated_at")
    list_select_related = ()
    page_related = ("checklist", "tenant")
    list_filter = ("status", "is_header", "mandatory")
    text_search_fields = ("text",)
    ordering = ("-created_at",)
    fields = (
        "id",
        "tenant",
        "checklist",
        "text",
        "status",
        "is_header",
        "mandatory",
        "assignee_account_id",
        "due_date",
        "position",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
    )


@admin.register(Template)
class TemplateAdmin(TextMaskingAdmin):
    list_display = ("name", "tenant", "project_id", "issue_type_id", "auto_apply", "text", "updated_at")
    list_select_related = ()
    page_related = ("tenant",)
    list_filter = ("auto_apply",)
    search_fields = ("name", "tenant__base_url")
    text_search_fields = ("text",)
    ordering = ("-updated_at",)
    fields = ("id", "tenant", "name", "text", "project_id", "issue_type_id", "auto_apply", "created_by", "created_at")


@admin.register(ChecklistChange)
class ChecklistChangeAdmin(IssueKeySearchAdmin):
    """History carries before/after text, so it is Customer data only (view_checklistchange is not in Support)."""

    list_display = ("created_at", "checklist", "version", "action", "source", "actor_account_id")
    list_select_related = ()
    page_related = ("checklist",)
    list_filter = ("action", "source")
    text_search_fields = ("actor_account_id",)
    ordering = ("-created_at",)
    fields = readonly_fields = (
        "id",
        "tenant",
        "checklist",
        "version",
        "action",
        "source",
        "actor_account_id",
        "item_id",
        "changes",
        "created_at",
    )

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and _can_read_text(request)
