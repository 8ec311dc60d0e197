from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from staff.admin_site import StaffAdminSite
from staff.audit import audit_record
from staff.models import AuditAction

from . import backup


class HeroAdminSite(StaffAdminSite):
    """The site served at /admin/ (herochecklist/apps.py): the staff console, plus the backups pages for superusers
    only (the list of archives and a confirmed restore). Here because only operations may import backups and staff."""

    def get_urls(self):
        return [
            path("backups/", self.admin_view(self.backups_view), name="backups"),
            path("backups/<str:name>/restore/", self.admin_view(self.restore_view), name="backup_restore"),
            *super().get_urls(),
        ]

    def _superuser_only(self, request):
        if not request.user.is_superuser:
            raise PermissionDenied

    def backups_view(self, request):
        self._superuser_only(request)
        storage = backup.backup_storage()
        rows = [
            {"name": n, "size": storage.size(n), "taken": backup.taken_at(n)} for n in reversed(backup.backup_list())
        ]
        context = {**self.each_context(request), "title": "Backups", "backups": rows}
        return TemplateResponse(request, "admin/backups.html", context)

    def restore_view(self, request, name):
        self._superuser_only(request)
        if name not in backup.backup_list():
            raise PermissionDenied
        context = {**self.each_context(request), "title": f"Restore {name}?", "name": name}
        if request.method == "POST":
            if request.POST.get("confirm") != name:
                context["error"] = "Type the archive's name exactly to confirm."
            else:
                try:
                    restored = backup.archive_restore(name)
                except backup.ArchiveError as exc:
                    context["error"] = f"{exc}. Nothing was written."
                except backup.RestoreRefused as exc:
                    # Not waited out here (a web request): the page says what the command would wait for.
                    context["error"] = f"The database refused the restore: {exc}."
                else:
                    # After the restore, so the entry is not replaced by the archive's own audit log.
                    audit_record(
                        request=request,
                        action=AuditAction.RESTORE,
                        model="core.backup",
                        object_ids=[name],
                        object_count=sum(restored.values()),
                    )
                    messages.success(request, f"Restored {sum(restored.values())} records from {name}.")
                    if restored.purged_left_out:
                        messages.info(request, backup.LEFT_OUT.format(restored.purged_left_out).capitalize() + ".")
                    return redirect("admin:backups")
        return TemplateResponse(request, "admin/backup_restore.html", context)
