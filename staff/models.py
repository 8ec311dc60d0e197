from django.db import models

from core.models import BaseModel


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
    LOOKUP = "lookup"  # a search of the audit log itself (AuditEntryAdmin)


class SearchKind(models.TextChoices):
    """What a list's search text looked like: enough to read an entry ("searched for an email") without the text."""

    EMAIL = "email"
    ISSUE_KEY = "issue_key"
    IDENTIFIER = "identifier"  # digits or a UUID
    TEXT = "text"


class AuditEntry(BaseModel):
    """Who looked at or touched which customer record, when and from where. Names records, never their data.

    The actor is copied as text (not a foreign key) so that removing a staff account keeps its trail. A list's search
    text is kept as a keyed hash with its length and kind, and filter values that could name someone as hashes in
    `path` (staff.audit): what staff type is often customer data, and the trail must not become a copy of it."""

    actor_id = models.CharField(max_length=64)
    actor_username = models.CharField(max_length=150)
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    detail = models.CharField(max_length=100, blank=True)  # the admin action's name, for example
    model = models.CharField(max_length=100)  # app_label.model_name
    object_ids = models.JSONField(default=list)  # the records shown or touched; ["*"] for "all matching"
    object_count = models.PositiveIntegerField(default=0)
    ip_address = models.CharField(max_length=45, blank=True)
    path = models.CharField(max_length=255, blank=True)  # with a list's query string, its values minimised
    search_hash = models.CharField(max_length=64, blank=True, db_index=True)  # HMAC-SHA256 hex (staff.audit)
    search_length = models.PositiveIntegerField(default=0)
    search_kind = models.CharField(max_length=16, choices=SearchKind.choices, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        # Defined in core until the staff app existed: the table keeps its name (no data migration).
        db_table = "core_auditentry"
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
