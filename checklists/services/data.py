"""Deleting checklist data: a tenant's when it is purged, an issue's when Jira deletes the issue."""

import uuid
from collections.abc import Iterable

from django.db.models import F
from django.utils import timezone

from core.db import atomic
from tenants.models import Tenant

from ..models import (
    Checklist,
    ChecklistChange,
    ChecklistItem,
    SiteStatus,
    Template,
)


def checklist_data_delete(*, tenant_ids: Iterable[uuid.UUID | str]) -> dict[str, int]:
    """Every checklist row of these sites (purge, and a one-site restore): one raw delete per table, children first,
    without loading rows or sending per-row signals. Returns the count per model."""
    tenant_ids = list(tenant_ids)
    deleted: dict[str, int] = {}
    for model in (ChecklistChange, ChecklistItem, Template, SiteStatus, Checklist):
        manager = model._base_manager
        deleted[model._meta.label] = manager.filter(tenant_id__in=tenant_ids)._raw_delete(manager.db)
    return deleted


@atomic
def checklist_delete_for_issue(*, tenant: Tenant, issue_id: str) -> bool:
    checklist = Checklist.objects.filter(tenant=tenant, issue_id=issue_id).first()
    if checklist is None:
        return False
    # Children first: MongoDB's backend cannot cascade across collections inside one delete().
    ChecklistChange.objects.filter(checklist=checklist).delete()
    ChecklistItem.objects.filter(checklist=checklist).delete()
    checklist.delete()
    return True


def checklist_versions_bump(*, checklist_ids: Iterable[uuid.UUID]) -> int:
    """A change made beside the write path (an erased account's assignments rewritten): a new version, so open panels
    reload and no process answers with the items it holds for the old one (selectors.checklist_with_items_json). No
    history row: no user did this."""
    ids = list(checklist_ids)
    if not ids:
        return 0
    return Checklist.objects.filter(id__in=ids).update(version=F("version") + 1, updated_at=timezone.now())
