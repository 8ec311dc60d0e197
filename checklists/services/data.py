"""Deleting checklist data: a tenant's when it is purged, an issue's when Jira deletes the issue; and moving a site's
Forge tenant's data onto its Connect tenant when the two turn out to be one site."""

import functools
import uuid
from collections.abc import Iterable

from django.db.models import F, Max
from django.utils import timezone

from core.db import atomic, on_commit
from tenants.models import Tenant

from ..models import (
    Checklist,
    ChecklistChange,
    ChecklistItem,
    SiteStatus,
    Template,
)
from ..statuses import panel_statuses_forget
from .statuses import checklists_recount


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


def checklist_data_merge(*, source_id: str, target_id: str) -> dict[str, int]:
    """Every checklist row of the source site moves onto the target (tenants' tenant_merging: a site's Forge tenant
    joins its Connect tenant). Nothing is dropped and nothing doubled:
    - an issue with a checklist on one side only: that checklist moves whole (same id, version, items, history);
    - an issue with a checklist on both: the target's keeps its items and gets the source's after them, with their
      history, and a version above both sides' so an open panel of either reloads before it writes;
    - a status key both sides define: the target's definition stays, and the items keep their key;
    - templates all move.
    Checklists whose items may now count differently are counted again and their Jira property pushed."""
    moved = dict.fromkeys((ChecklistItem._meta.label, ChecklistChange._meta.label), 0)
    target_statuses = dict(SiteStatus.objects.filter(tenant_id=target_id).values_list("key", "counts_as_done"))
    source_statuses = dict(SiteStatus.objects.filter(tenant_id=source_id).values_list("key", "counts_as_done"))
    # The same key counting otherwise on the target: the source's items with it count anew.
    recount_keys = [k for k, done in source_statuses.items() if k in target_statuses and target_statuses[k] != done]
    SiteStatus.objects.filter(tenant_id=source_id, key__in=list(target_statuses)).delete()
    last = SiteStatus.objects.filter(tenant_id=target_id).aggregate(last=Max("position"))["last"]
    moved[SiteStatus._meta.label] = SiteStatus.objects.filter(tenant_id=source_id).update(
        tenant_id=target_id, position=F("position") + (last + 1 if last is not None else 0)
    )
    moved[Template._meta.label] = Template.objects.filter(tenant_id=source_id).update(tenant_id=target_id)
    target_checklists = dict(Checklist.objects.filter(tenant_id=target_id).values_list("issue_id", "id"))
    recount = set(
        ChecklistItem.objects.filter(tenant_id=source_id, status__in=recount_keys).values_list(
            "checklist_id", flat=True
        )
    )
    for checklist in Checklist.objects.filter(tenant_id=source_id, issue_id__in=list(target_checklists)):
        into = target_checklists[checklist.issue_id]
        recount.discard(checklist.pk)
        recount.add(into)
        last = ChecklistItem.objects.filter(checklist_id=into).aggregate(last=Max("position"))["last"]
        moved[ChecklistItem._meta.label] += ChecklistItem.objects.filter(checklist_id=checklist.pk).update(
            checklist_id=into, tenant_id=target_id, position=F("position") + (last + 1 if last is not None else 0)
        )
        moved[ChecklistChange._meta.label] += ChecklistChange.objects.filter(checklist_id=checklist.pk).update(
            checklist_id=into, tenant_id=target_id
        )
        target_version = Checklist.objects.filter(pk=into).values_list("version", flat=True).get()
        # A new version and updated_at: what each process holds of the target's items is read again.
        Checklist.objects.filter(pk=into).update(
            version=max(target_version, checklist.version) + 1, updated_at=timezone.now()
        )
        Checklist.objects.filter(pk=checklist.pk).delete()
    ids = list(Checklist.objects.filter(tenant_id=source_id).values_list("id", flat=True))
    moved[ChecklistItem._meta.label] += ChecklistItem.objects.filter(tenant_id=source_id).update(tenant_id=target_id)
    moved[ChecklistChange._meta.label] += ChecklistChange.objects.filter(tenant_id=source_id).update(
        tenant_id=target_id
    )
    moved[Checklist._meta.label] = Checklist.objects.filter(id__in=ids).update(tenant_id=target_id)
    checklists_recount(uuid.UUID(target_id), recount)
    # Now and at the commit, as the tenant cache does (another thread may read the old list in between).
    panel_statuses_forget(uuid.UUID(target_id))
    on_commit(functools.partial(panel_statuses_forget, uuid.UUID(target_id)))
    return moved
