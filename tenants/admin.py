import logging

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from staff.admin import AuditedAdmin

from . import services
from .models import Tenant

logger = logging.getLogger(__name__)


@admin.register(Tenant)
class TenantAdmin(AuditedAdmin):
    list_display = ("display_name", "state", "front_door", "installed_at", "uninstalled_at", "updated_at")
    list_filter = ("state", "product_type")
    search_fields = ("base_url", "client_key", "installation_id", "cloud_id", "entitlement_number")
    ordering = ("-created_at",)
    actions = ["purge_now"]
    # Secrets (shared secret, Forge system token) are not fields of this page at all, not even masked.
    readonly_fields = (
        "id",
        "client_key",
        "installation_id",
        "cloud_id",
        "base_url",
        "display_url",
        "product_type",
        "entitlement_id",
        "entitlement_number",
        "state",
        "installed_at",
        "enabled_at",
        "disabled_at",
        "uninstalled_at",
        "forge_api_base_url",
        "created_at",
        "updated_at",
    )
    fields = (*readonly_fields, "client_timing_enabled", "workflow_rules_in_use", "clone_keeps_statuses")

    def has_change_permission(self, request, obj=None):
        return admin.ModelAdmin.has_change_permission(self, request, obj)  # tenants.change_tenant (superusers)

    def save_model(self, request, obj, form, change):
        services.tenant_set_client_timing(tenant=obj, enabled=form.cleaned_data["client_timing_enabled"])
        services.tenant_set_workflow_settings(
            tenant=obj, **{k: form.cleaned_data[k] for k in ("workflow_rules_in_use", "clone_keeps_statuses")}
        )

    @admin.display(description="front door")
    def front_door(self, obj):
        if obj.is_forge_only:
            return "Forge"
        return "Connect + Forge" if obj.installation_id else "Connect"

    def has_purge_permission(self, request):
        return request.user.is_superuser

    @admin.action(description="Purge the selected sites now (erases all their data)", permissions=["purge"])
    def purge_now(self, request, queryset):
        if request.POST.get("confirm") != "purge":
            request.audit_skip = True  # only a question so far; the confirmed purge is what gets audited
            context = {
                **self.admin_site.each_context(request),
                "title": "Purge sites now?",
                "tenants": list(queryset),
                "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
                "opts": self.model._meta,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/tenants/tenant/purge_confirmation.html", context)
        purged = 0
        for tenant in queryset:
            try:
                services.tenant_purge(tenant=tenant, user=request.user)
            except (KombuError, RedisError):
                # Its follow-up could not be queued (the broker is down), so nothing of this site was purged.
                logger.exception(
                    "purge refused: its follow-up could not be queued", extra={"tenant_id": str(tenant.pk)}
                )
                self.message_user(
                    request,
                    f"{tenant} was not purged: the task queue is unavailable. Nothing of it was erased; try again.",
                    messages.ERROR,
                )
                continue
            purged += 1
        if purged:
            self.message_user(request, f"Purged {purged} site(s) and all their data.", messages.SUCCESS)
        return None
