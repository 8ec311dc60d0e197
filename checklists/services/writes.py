"""
Every write to a checklist goes through `_checklist_write`: one transaction (real on MongoDB too) that applies the
change, bumps `version` with a conditional update, refreshes the counts and writes history. Stale `If-Match`
versions are refused (412); a race without If-Match is retried, and never silently overwrites.
"""

import functools
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connections
from django.utils import timezone
from pymongo.errors import PyMongoError

from core import context
from core.db import CommitUnknown, atomic, is_write_conflict, landed, on_commit
from core.exceptions import Conflict, NotFound
from core.rows import RawInsert, RawUpdate
from tenants.models import Tenant
from tenants.types import IssueRef

from .. import mongo
from ..models import (
    Checklist,
    ChecklistChange,
    ChecklistItem,
)
from ..progress import progress_counts
from ..selectors import (
    checklist_for,
    checklist_for_item_write,
    checklist_items,
)
from ..statuses import SiteStatuses
from ..tasks import schedule_progress_sync
from ..workflow_guard import settle, write_guard

# The logger keeps the name of the one module these were, so log filters and dashboards see no change.
logger = logging.getLogger(__package__)

WRITE_ATTEMPTS = 5
# The two statements every write runs, written once (core/rows.py).
_BUMP = RawUpdate(Checklist, ("version", "updated_at"), ("id", "version"))
_INSERT_CHANGES = RawInsert(ChecklistChange)
_SET_COUNTS = RawUpdate(Checklist, ("done_count", "total_count", "mandatory_open_count"), ("id",))
# SQLite: the bump and the counts in one statement at the end (_checklist_attempt says why that is safe there).
_BUMP_AND_COUNT = RawUpdate(Checklist, (*_BUMP.set, *_SET_COUNTS.set), ("id", "version"))
ITEM_FIELDS = ("text", "status", "is_header", "mandatory", "assignee_account_id", "due_date", "customer_visible")


@dataclass(frozen=True)
class Actor:
    account_id: str
    source: str = "api"  # api, text, template, webhook


class _Raced(Exception):
    """Another write committed between our read and our version bump."""


class _NoChange(Exception):
    """The write changed nothing; raised to roll back the version bump."""


class WriteOutcomeUnknown(Exception):
    """A commit's reply was lost and the database could not be asked whether it landed: the client must reload
    before it tries again (503)."""


@dataclass
class _Change:
    action: str
    item_id: uuid.UUID | None = None
    changes: dict[str, Any] = field(default_factory=dict)


def _snapshot(item: ChecklistItem) -> dict[str, Any]:
    return {
        name: (getattr(item, name).isoformat() if isinstance(getattr(item, name), date) else getattr(item, name))
        for name in ITEM_FIELDS
    }


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: {"before": before[k], "after": after[k]} for k in ITEM_FIELDS if before[k] != after[k]}


def _checklist_for_write(tenant: Tenant, issue: IssueRef) -> Checklist:
    return _freshened(tenant, issue, checklist_for(tenant, issue.id))


def _freshened(tenant: Tenant, issue: IssueRef, checklist: Checklist | None) -> Checklist:
    """The issue's checklist as read (None: it has none, so it is created), with the issue's latest key."""
    if checklist is None:
        if not Tenant.objects.filter(pk=tenant.pk).exists():
            # Purged while this write was on its way (it authenticated before): nothing may be stored for the site
            # again. MongoDB has no foreign key to refuse the row; on SQLite the commit failed on it, five times, and
            # the answer was "being edited by others". One query, on the first write of an issue only.
            raise NotFound("site purged")
        checklist = Checklist.objects.create(
            tenant=tenant,
            issue_id=issue.id,
            issue_key=issue.key,
            project_id=issue.project_id,
            issue_type_id=issue.issue_type_id,
        )
    else:
        # Issue keys change when an issue moves project; the credential's signed context is the latest truth.
        fresh = {
            "issue_key": issue.key or checklist.issue_key,
            "project_id": issue.project_id or checklist.project_id,
            "issue_type_id": issue.issue_type_id or checklist.issue_type_id,
        }
        if any(getattr(checklist, k) != v for k, v in fresh.items()):
            Checklist.objects.filter(id=checklist.id).update(**fresh)
            for k, v in fresh.items():
                setattr(checklist, k, v)
    return checklist


def _checklist_write(
    *,
    tenant: Tenant,
    issue: IssueRef,
    actor: Actor,
    expected_version: int | None,
    mutate: Callable[[Checklist, list[ChecklistItem]], list[_Change]],
    once: uuid.UUID | None = None,
    only_item: uuid.UUID | None = None,
) -> Checklist | None:
    """`only_item`: `mutate` changes this one item's fields and nothing else, so it is given that item alone (a list
    of it, empty when it is not on the checklist) and the others are read for the counts only (a tenth of a PATCH
    on SQLite was building every item). `mutate` must then work with either list.

    `once`: the id of a write that must apply at most once however often it is asked for (a queued task that a
    killed worker leaves to be delivered again, a call its sender retries). It becomes the id of the write's first
    history row, in the write's own transaction, so the write and the record that it was done commit together."""
    # A site whose workflows use our rules: Jira's progress property is marked pending first (checklists/workflow).
    with write_guard(tenant, issue.id) as guard:
        try:
            return _checklist_write_attempts(
                tenant=tenant,
                issue=issue,
                actor=actor,
                expected_version=expected_version,
                mutate=mutate,
                once=once,
                only_item=only_item,
            )
        finally:
            if guard.marked and (checklist_id := settle(tenant, issue.id)):
                on_commit(functools.partial(schedule_progress_sync, checklist_id))  # the push that clears the mark


def _checklist_write_attempts(
    *,
    tenant: Tenant,
    issue: IssueRef,
    actor: Actor,
    expected_version: int | None,
    mutate: Callable[[Checklist, list[ChecklistItem]], list[_Change]],
    once: uuid.UUID | None = None,
    only_item: uuid.UUID | None = None,
) -> Checklist | None:
    """Apply `mutate` in one transaction and return the checklist as written; None when an issue without a checklist
    stays without one (a no-op write). `mutate` may run more than once (a retried attempt): it must start over from
    the items it is given each time, and leave that list as the checklist's items after its change (the progress
    counts are taken from it)."""
    for attempt in range(WRITE_ATTEMPTS):
        if attempt:
            # Concurrent writers of one checklist: step aside for a moment, randomly, so they stop colliding.
            time.sleep(random.uniform(0.005, 0.02 * 2**attempt))
        # This attempt's first history row gets this id: finding the row later proves that the attempt committed.
        token = once or uuid.uuid4()
        written: Checklist | None = None
        try:
            with atomic():
                written = _checklist_attempt(
                    tenant, issue, actor, expected_version, mutate, token, once=once is not None, only_item=only_item
                )
        except _NoChange:
            return checklist_for(tenant, issue.id)
        except CommitUnknown as exc:
            # The commit's reply was lost: it may have landed. Retrying blindly would store the change twice.
            assert written is not None  # only the commit at the block's end raises this, after the attempt ran
            if _attempt_landed(token):
                logger.warning("commit reply lost, but the write landed", extra={"version": written.version})
                on_commit(functools.partial(schedule_progress_sync, written.id))
                return written
            logger.warning("commit reply lost and the write did not land; retrying", exc_info=exc)
            continue
        except (_Raced, IntegrityError) as exc:
            if expected_version is not None:
                raise Conflict("The checklist changed since you loaded it.", status=412) from exc
            continue
        except Exception as exc:  # DatabaseError, or pymongo's own from a transaction's commit or abort
            if not isinstance(exc, DatabaseError | PyMongoError) or not is_write_conflict(exc):
                raise
            if expected_version is not None:
                raise Conflict("The checklist changed since you loaded it.", status=412) from exc
            continue
        return written
    raise Conflict("The checklist is being edited by others right now; please retry.", status=409)


def _checklist_attempt(
    tenant: Tenant,
    issue: IssueRef,
    actor: Actor,
    expected_version: int | None,
    mutate: Callable[[Checklist, list[ChecklistItem]], list[_Change]],
    token: uuid.UUID,
    *,
    once: bool = False,
    only_item: uuid.UUID | None = None,
) -> Checklist:
    """One attempt of _checklist_write, inside its transaction."""
    if once and ChecklistChange.objects.filter(id=token).exists():
        # Applied already (by an earlier delivery of the same request): nothing more, and no version bump.
        raise _NoChange()
    # The version bump comes first: every writer locks the checklist document before any item, so
    # concurrent writers queue up (or conflict) at one point and can never hold each other's locks.
    # On MongoDB the read and the bump are one command (a 412 below rolls the bump back with the transaction).
    db = connections[DEFAULT_DB_ALIAS]  # once: each look through the `connection` proxy costs 1-2 µs
    mongodb = db.vendor == "mongodb"
    # One item alone on SQL only: on MongoDB a round trip costs more than building the items, and this is two.
    alone = only_item if not mongodb else None
    others: list[tuple[str, bool, bool]] | None = None
    if alone is not None:
        # SQLite, one item: the checklist, that item and the others' counted columns in one statement; the version
        # bump waits for the counts' statement at the end. Safe on SQLite alone: the transaction holds the database's
        # one write lock from its first statement (BEGIN IMMEDIATE), so no writer can come between the read and the
        # bump, and the bump stays conditional on the version read all the same.
        found, items, others = checklist_for_item_write(tenant, issue.id, alone)
        checklist = _freshened(tenant, issue, found)
        bumped = None
    else:
        bumped = mongo.checklist_bump(tenant, issue) if mongodb else None
        checklist = bumped if bumped is not None else _checklist_for_write(tenant, issue)
    if expected_version is not None and checklist.version != expected_version:
        raise Conflict("The checklist changed since you loaded it.", status=412, currentVersion=checklist.version)
    new_version = checklist.version + 1
    if others is None:
        if bumped is None and _BUMP((new_version, timezone.now()), (checklist.id, checklist.version), db) != 1:
            raise _Raced()
        items = checklist_items(checklist)
    changes = mutate(checklist, items)
    if not changes:
        raise _NoChange()  # rolls the bump back: a no-op leaves version and history alone
    # From the items as `mutate` left them (every mutate keeps the list in step): no second read of the items.
    counted = [(item.status, item.is_header, item.mandatory) for item in items]
    if others is not None:
        counted += others
    counts = progress_counts(counted, SiteStatuses(tenant).complete)
    count_values = tuple(counts[name] for name in _SET_COUNTS.set)
    if others is not None:
        bump = (new_version, timezone.now(), *count_values)
        if _BUMP_AND_COUNT(bump, (checklist.id, checklist.version), db) != 1:
            raise _Raced()
    else:
        _SET_COUNTS(count_values, (checklist.id,), db)
    _INSERT_CHANGES.rows(
        [
            {
                "id": token if index == 0 else uuid.uuid4(),
                "tenant_id": tenant.pk,
                "checklist_id": checklist.id,
                "version": new_version,
                "action": c.action,
                "actor_account_id": actor.account_id,
                "item_id": c.item_id,
                "source": actor.source,
                "changes": c.changes,
            }
            for index, c in enumerate(changes)
        ],
        db,
    )
    checklist.version = new_version
    for name, value in counts.items():
        setattr(checklist, name, value)
    on_commit(functools.partial(schedule_progress_sync, checklist.id))
    logger.info("checklist changed", extra={"version": new_version, "changes": len(changes)})
    return checklist


def _attempt_landed(token: uuid.UUID) -> bool:
    """Whether the attempt whose first history row has this id committed (core.db.landed); if it cannot be told,
    the caller must not guess: 503, reload first."""
    try:
        return landed(ChecklistChange.objects.filter(id=token).exists)
    except CommitUnknown:
        raise WriteOutcomeUnknown() from None


def _renumber(items: list[ChecklistItem]) -> None:
    for index, item in enumerate(items):
        if item.position != index:
            ChecklistItem.objects.filter(id=item.id).update(position=index)
            item.position = index


def _new_item(checklist: Checklist, actor: Actor, fields: dict[str, Any], position: int) -> ChecklistItem:
    item = ChecklistItem(
        tenant_id=checklist.tenant_id,
        checklist=checklist,
        position=position,
        created_by=actor.account_id,
        updated_by=actor.account_id,
        **fields,
    )
    context.mark_sensitive(item.text)
    return item
