import csv

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.html import format_html

from core.exceptions import ValidationFailed
from staff.admin import AuditedAdmin, csv_cell
from staff.audit import audit_record
from staff.models import AuditAction

from . import services
from .csvimport import records_from_csv
from .models import Contact, ContactLink, License, SyncState


class ContactLinkInline(admin.TabularInline):
    model = ContactLink
    fields = ("role", "license", "active")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False


class ContactForm(forms.ModelForm):
    """The one editable field, display_name, by the one rule for a line of customer text (contacts.services)."""

    class Meta:
        model = Contact
        fields = ("display_name",)

    def clean_display_name(self):
        try:
            return services.contact_name_checked(self.cleaned_data.get("display_name", ""))
        except ValidationFailed as exc:
            raise forms.ValidationError(list(exc.errors.values())) from None


class CsvImportForm(forms.Form):
    file = forms.FileField(help_text="Columns as in the Marketplace licenses report (see README).")


@admin.register(Contact)
class ContactAdmin(AuditedAdmin):
    list_display = ("email", "display_name", "sync_badge", "sync_attempts", "last_error", "synced_at", "created_at")
    list_filter = ("sync_state",)
    search_fields = ("email", "display_name", "hubspot_id")
    readonly_fields = (
        "id",
        "email",
        "hubspot_id",
        "sync_state",
        "sync_attempts",
        "last_error",
        "synced_at",
        "sync_claimed_at",
        "unsubscribed_at",
        "created_at",
        "updated_at",
    )
    fields = ("display_name", *readonly_fields)
    inlines = [ContactLinkInline]
    actions = ["retry_sync", "export_csv"]
    ordering = ("-created_at",)
    change_list_template = "admin/contacts/contact/change_list.html"

    @admin.display(description="sync", ordering="sync_state")
    def sync_badge(self, obj):
        colour = {SyncState.SYNCED: "#1f845a", SyncState.FAILED: "#ae2e24"}.get(obj.sync_state, "#a54800")
        return format_html('<b style="color:{}">{}</b>', colour, obj.get_sync_state_display())

    # Billing and CRM reads and retries; only a superuser (contacts.change_contact) may correct a display name.
    has_change_permission = admin.ModelAdmin.has_change_permission
    form = ContactForm

    def save_model(self, request, obj, form, change):
        # Through the service: the name checked there, and pending for HubSpot again (its old name is there).
        services.contact_rename(contact_id=obj.pk, name=form.cleaned_data["display_name"])

    def has_retry_sync_permission(self, request):
        return request.user.has_perm("contacts.retry_sync")

    def has_export_permission(self, request):
        return request.user.has_perm("contacts.export_contacts")

    @admin.action(description="Retry the HubSpot sync of the selected contacts", permissions=["retry_sync"])
    def retry_sync(self, request, queryset):
        count = services.contact_retry_sync(contact_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(request, f"{count} contact(s) queued for sync.", messages.SUCCESS)

    @admin.action(description="Export the selected contacts as CSV", permissions=["export"])
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="contacts.csv"'
        writer = csv.writer(response)
        writer.writerow(["email", "name", "sync_state", "synced_at", "unsubscribed_at"])
        for contact in queryset.order_by("email").iterator(chunk_size=1000):
            row = [contact.email, contact.display_name, contact.sync_state, contact.synced_at, contact.unsubscribed_at]
            writer.writerow([csv_cell(value) for value in row])
        return response

    def changelist_view(self, request, extra_context=None):
        failed = Contact.objects.filter(sync_state=SyncState.FAILED).count()
        extra_context = {**(extra_context or {}), "failed_count": failed}
        return super().changelist_view(request, extra_context=extra_context)

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_csv), name="contacts_contact_import"),
            *super().get_urls(),
        ]

    def import_csv(self, request):
        if not request.user.has_perm("contacts.import_licenses"):
            raise PermissionDenied
        form = CsvImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = services.license_ingest(records=records_from_csv(form.cleaned_data["file"].read()))
            except ValidationFailed as exc:
                form.add_error("file", "; ".join(exc.errors.values()))
            else:
                # One entry per model it wrote, naming the records as an edit does (ids, never the data).
                licenses = list(dict.fromkeys(map(str, result.license_ids)))  # a license on two rows, once
                for model, ids in ((License, licenses), (Contact, sorted(map(str, result.contact_ids)))):
                    audit_record(
                        request=request,
                        action=AuditAction.ACTION,
                        model=model,
                        object_ids=ids,
                        object_count=len(ids),
                        detail="import_csv",
                    )
                self.message_user(
                    request,
                    f"Imported {result.licenses} license(s), {result.contacts} new contact(s), "
                    f"skipped {result.skipped} row(s)"
                    + (f" ({result.purged} of licenses purged with their site)" if result.purged else "")
                    + ".",
                    messages.SUCCESS,
                )
                return redirect("admin:contacts_contact_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": "Import licenses from CSV",
            "opts": self.model._meta,
        }
        return render(request, "admin/contacts/contact/import.html", context)


@admin.register(License)
class LicenseAdmin(AuditedAdmin):
    list_display = ("addon_license_id", "cloud_site_hostname", "status", "license_type", "tenant", "last_updated")
    list_filter = ("status", "license_type")
    search_fields = ("addon_license_id", "cloud_site_hostname", "app_entitlement_id", "app_entitlement_number")
    list_select_related = ()
    page_related = ("tenant",)
    readonly_fields = (
        "id",
        "addon_license_id",
        "app_entitlement_id",
        "app_entitlement_number",
        "cloud_site_hostname",
        "tenant",
        "status",
        "license_type",
        "last_updated",
        "created_at",
    )
    fields = readonly_fields
