import uuid

from django.db import models


class BaseModel(models.Model):
    """UUID primary key on every model of ours, so one migration set serves SQLite and MongoDB."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AppendOnlyError(Exception):
    """The audit log is append-only: entries are never changed or deleted through the ORM."""


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit entries cannot be changed")

    def delete(self):
        raise AppendOnlyError("audit entries cannot be deleted")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError("audit entries cannot be changed")


class AuditAction(models.TextChoices):
    LIST = "list"
    VIEW = "view"
    VIEW_HISTORY = "view_history"
    CHANGE = "change"
    DELETE = "delete"
    ACTION = "action"
    EXPORT = "export"
    RESTORE = "restore"
    PURGE = "purge"


class AuditEntry(BaseModel):
    """Who looked at or touched which customer record, when and from where. Names records, never their data.

    The actor is copied as text (not a foreign key) so that removing a staff account keeps its trail."""

    actor_id = models.CharField(max_length=64)
    actor_username = models.CharField(max_length=150)
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    detail = models.CharField(max_length=100, blank=True)  # the admin action's name, for example
    model = models.CharField(max_length=100)  # app_label.model_name
    object_ids = models.JSONField(default=list)  # the records shown or touched; ["*"] for "all matching"
    object_count = models.PositiveIntegerField(default=0)
    ip_address = models.CharField(max_length=45, blank=True)
    path = models.CharField(max_length=255, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["model", "-created_at"]), models.Index(fields=["actor_id", "-created_at"])]

    def __str__(self):
        return f"{self.actor_username} {self.action} {self.model}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit entries cannot be deleted")


class ReportedAccount(BaseModel):
    """When an Atlassian accountId we store was last reported to the personal data reporting API (once per cycle).

    A `closed` answer pseudonymises every reference and then removes this row too (core/privacy.py)."""

    account_id = models.CharField(max_length=128, unique=True)
    reported_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"account reported {self.reported_at:%Y-%m-%d}"
