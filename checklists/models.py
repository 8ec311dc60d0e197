from django.db import models

from core import identifiers
from core.models import BaseModel
from tenants.models import Tenant

MAX_ITEM_TEXT = 2000
MAX_ITEMS = 500
MAX_TEMPLATES = 200
# One project's administrators may fill at most half of the site's templates, so no single project can leave the
# others (or the Jira admins' site-wide templates) without room.
MAX_PROJECT_TEMPLATES = MAX_TEMPLATES // 2
MAX_TEMPLATE_NAME = 200
MAX_ACCOUNT_ID = identifiers.MAX_ACCOUNT_ID
MAX_ISSUE_ID = 32
MAX_SITE_STATUSES = 20
MAX_STATUS_NAME = 50
MAX_STATUS_KEY = 16  # ChecklistItem.status holds the key


class ItemStatus(models.TextChoices):
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    SKIPPED = "skipped"
    BLOCKED = "blocked"


COMPLETE_STATUSES = frozenset({ItemStatus.DONE, ItemStatus.SKIPPED})


class Checklist(BaseModel):
    """One checklist per (tenant, issue). `version` grows by one with every write (optimistic concurrency)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="checklists")
    issue_id = models.CharField(max_length=MAX_ISSUE_ID)
    issue_key = models.CharField(max_length=64, blank=True)
    project_id = models.CharField(max_length=MAX_ISSUE_ID, blank=True)
    issue_type_id = models.CharField(max_length=MAX_ISSUE_ID, blank=True)
    version = models.PositiveIntegerField(default=0)
    # Counts only (no text), kept in step by the services: what Support staff and the issue property see.
    done_count = models.PositiveIntegerField(default=0)
    total_count = models.PositiveIntegerField(default=0)
    mandatory_open_count = models.PositiveIntegerField(default=0)
    # The version last written to the Jira issue property, so a retried or duplicate sync writes nothing new, and
    # the periodic sweep finds every checklist whose property is behind (version > property_synced_version).
    property_synced_version = models.PositiveIntegerField(default=0)
    # When Jira last refused this checklist's push for good (the issue deleted, the app's access revoked: 401, 403,
    # 404) or its retries ran out; cleared by a push that lands. The sweep retries such a checklist only after
    # PROGRESS_SWEEP_FAILED_RETRY_SECONDS and after every other one behind: before, they went first (oldest change
    # first), and a thousand of them filled every sweep for a week while the pushes lost elsewhere waited.
    property_sync_failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "issue_id"], name="unique_checklist_per_issue")]
        # The progress sweep reads recently changed checklists only (checklists/sync.py).
        indexes = [models.Index(fields=["updated_at"], name="checklist_updated_at")]

    def __str__(self):
        return self.issue_key or f"issue {self.issue_id}"


class ChecklistItem(BaseModel):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    checklist = models.ForeignKey(Checklist, on_delete=models.CASCADE, related_name="items")
    text = models.TextField(max_length=MAX_ITEM_TEXT)
    status = models.CharField(max_length=16, choices=ItemStatus.choices, default=ItemStatus.TODO)
    is_header = models.BooleanField(default=False)
    mandatory = models.BooleanField(default=True)
    assignee_account_id = models.CharField(max_length=MAX_ACCOUNT_ID, blank=True)
    due_date = models.DateField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)
    # Grows by one whenever the item's own fields change (not its position), so a write can be conditional on this
    # item alone (If-Match: "item-<id>-<version>"): edits of different items never conflict.
    version = models.PositiveIntegerField(default=1)
    # Shown read-only to customers on the Jira Service Management portal (checklists/portal.py); off by default.
    customer_visible = models.BooleanField(default=False)
    created_by = models.CharField(max_length=MAX_ACCOUNT_ID, blank=True)
    updated_by = models.CharField(max_length=MAX_ACCOUNT_ID, blank=True)

    class Meta:
        ordering = ["position", "created_at"]
        indexes = [models.Index(fields=["checklist", "position"])]
        # The admin's line between Support (metadata) and Customer data (text): see staff/roles.py.
        permissions = [("view_item_text", "Can read checklist item text, template text and history")]

    def __str__(self):
        return f"item {self.id}"


class Template(BaseModel):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=MAX_TEMPLATE_NAME)
    text = models.TextField()
    project_id = models.CharField(max_length=MAX_ISSUE_ID, blank=True)
    issue_type_id = models.CharField(max_length=MAX_ISSUE_ID, blank=True)
    auto_apply = models.BooleanField(default=False)
    created_by = models.CharField(max_length=MAX_ACCOUNT_ID, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "auto_apply"])]

    def __str__(self):
        return self.name


class SiteStatus(BaseModel):
    """A status a site defines beside the five built in (the market apps have them): items store its `key`, the
    text format writes it as `- [key] text`, and `counts_as_done` decides whether progress counts it complete."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=MAX_STATUS_KEY)
    name = models.CharField(max_length=MAX_STATUS_NAME)
    color = models.CharField(max_length=7)  # #rrggbb
    counts_as_done = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="unique_site_status_key")]

    def __str__(self):
        return self.key


class ChangeAction(models.TextChoices):
    ITEM_ADDED = "item_added"
    ITEM_UPDATED = "item_updated"
    ITEM_DELETED = "item_deleted"
    REORDERED = "reordered"
    TEMPLATE_APPLIED = "template_applied"


class ChecklistChange(BaseModel):
    """History: who changed what, when, with before/after values of each changed field."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # No index of its own: the (checklist, -created_at) index begins with it and serves every lookup by checklist (the
    # history read, the cascade from a checklist). Each index is a page written per history row, and read again by a
    # PATCH that begins after another connection's commit (bench/RESULTS.md, session 18). created_at keeps BaseModel's
    # index: the staff console lists every site's history newest first.
    checklist = models.ForeignKey(Checklist, on_delete=models.CASCADE, related_name="changes", db_index=False)
    version = models.PositiveIntegerField()
    action = models.CharField(max_length=32, choices=ChangeAction.choices)
    actor_account_id = models.CharField(max_length=MAX_ACCOUNT_ID, blank=True)
    item_id = models.UUIDField(null=True, blank=True)
    source = models.CharField(max_length=16, blank=True)  # api, text, template
    changes = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at", "-version"]
        indexes = [models.Index(fields=["checklist", "-created_at"])]

    def __str__(self):
        return f"{self.action} v{self.version}"
