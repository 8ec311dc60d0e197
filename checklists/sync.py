"""The progress summary in the Jira issue property `herochecklist-progress`: counts only, nothing personal."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from core import context
from tenants.descriptor import PROGRESS_PROPERTY
from tenants.jira import JiraClient
from tenants.models import TenantState

from . import workflow_guard as guard
from .models import Checklist
from .progress import progress_property  # noqa: F401 (its home before the workflow rules needed it too)

logger = logging.getLogger(__name__)


def checklist_progress_push(*, checklist_id) -> bool:
    """Write the current progress to Jira unless that version is already there. Returns whether it wrote."""
    checklist = Checklist.objects.select_related("tenant").filter(id=checklist_id).first()
    if checklist is None or not checklist.tenant.is_active:
        return False
    guarded = checklist.tenant.workflow_rules_in_use
    if checklist.property_synced_version >= checklist.version and not (guarded and guard.push_forced(checklist)):
        return False
    context.client_key.set(checklist.tenant.client_key)
    context.issue_key.set(checklist.issue_key)
    version = checklist.version
    client = JiraClient(checklist.tenant)
    if guarded:
        guard.before_push(checklist)
    client.set_issue_property(checklist.issue_id, PROGRESS_PROPERTY, progress_property(checklist))
    # Only move forward: a slower, older push must not mark a newer version as synced.
    Checklist.objects.filter(id=checklist.id, property_synced_version__lt=version).update(
        property_synced_version=version, property_sync_failed_at=None
    )
    if guarded:
        guard.after_push(checklist, version, client)
    logger.info("progress property written", extra={"version": version})
    return True


def checklist_progress_failed(*, checklist_id) -> None:
    """Jira refused the push for good, or its retries ran out: the sweep puts this checklist last for a while."""
    Checklist.objects.filter(id=checklist_id).update(property_sync_failed_at=timezone.now())


def checklists_behind_on_progress() -> list:
    """Ids of checklists whose issue property is older than their version, for the sweep: oldest change first, then
    those whose push Jira refused for good more than PROGRESS_SWEEP_FAILED_RETRY_SECONDS ago (oldest refusal first),
    at most PROGRESS_SWEEP_BATCH in all. Left alone: the last PROGRESS_SWEEP_GRACE_SECONDS (the write's own push is
    still on its way), checklists unchanged for PROGRESS_SWEEP_MAX_AGE_DAYS (an issue Jira keeps refusing is not
    retried forever) and those refused more recently. Two queries rather than one ordering with nulls first, which
    the MongoDB backend does not translate."""
    now = timezone.now()
    behind = Checklist.objects.filter(
        updated_at__lt=now - timedelta(seconds=settings.PROGRESS_SWEEP_GRACE_SECONDS),
        updated_at__gte=now - timedelta(days=settings.PROGRESS_SWEEP_MAX_AGE_DAYS),
        property_synced_version__lt=F("version"),
    ).exclude(tenant__state=TenantState.UNINSTALLED)
    batch = settings.PROGRESS_SWEEP_BATCH
    ids = list(
        behind.filter(property_sync_failed_at__isnull=True).order_by("updated_at").values_list("id", flat=True)[:batch]
    )
    if len(ids) < batch:
        again = now - timedelta(seconds=settings.PROGRESS_SWEEP_FAILED_RETRY_SECONDS)
        ids += list(
            behind.filter(property_sync_failed_at__lt=again)
            .order_by("property_sync_failed_at")
            .values_list("id", flat=True)[: batch - len(ids)]
        )
    return ids
