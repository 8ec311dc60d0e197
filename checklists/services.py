"""
Every write to a checklist goes through `_checklist_write`: one transaction (real on MongoDB too) that applies the
change, bumps `version` with a conditional update, refreshes the counts and writes history. Stale `If-Match`
versions are refused (412); a race without If-Match is retried, and never silently overwrites.
"""

import difflib
import functools
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from django.db import DatabaseError, IntegrityError
from django.utils import timezone
from pymongo.errors import PyMongoError

from core import context
from core.db import CommitUnknown, atomic, on_commit, one
from core.exceptions import Conflict, NotFound, ValidationFailed
from tenants.models import Tenant
from tenants.permissions import APP_ACCOUNT_ID
from tenants.types import IssueRef

from . import textformat
from .models import (
    MAX_ITEMS,
    MAX_TEMPLATES,
    ChangeAction,
    Checklist,
    ChecklistChange,
    ChecklistItem,
    Template,
)
from .progress import progress_counts, progress_json  # noqa: F401 (progress_json: also importable from here)
from .tasks import schedule_progress_sync
from .validation import clean_item_fields, clean_jira_id, clean_template_name

logger = logging.getLogger(__name__)

WRITE_ATTEMPTS = 5
ITEM_FIELDS = ("text", "status", "is_header", "mandatory", "assignee_account_id", "due_date")


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


# --- the one write path ------------------------------------------------------------------------------------------


@dataclass
class _Change:
    action: str
    item_id: object = None
    changes: dict = field(default_factory=dict)


def _snapshot(item: ChecklistItem) -> dict:
    return {
        name: (getattr(item, name).isoformat() if isinstance(getattr(item, name), date) else getattr(item, name))
        for name in ITEM_FIELDS
    }


def _diff(before: dict, after: dict) -> dict:
    return {k: {"before": before[k], "after": after[k]} for k in ITEM_FIELDS if before[k] != after[k]}


def _checklist_for_write(tenant: Tenant, issue: IssueRef) -> Checklist:
    checklist = Checklist.objects.filter(tenant=tenant, issue_id=issue.id).first()
    if checklist is None:
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


def _is_write_conflict(exc: BaseException) -> bool:
    """A transaction lost to a concurrent one (MongoDB's TransientTransactionError, SQLite's lock timeout).
    The backend wraps the driver's error, so look down the chain."""
    seen: BaseException | None = exc
    while seen is not None:
        has_label = getattr(seen, "has_error_label", None)
        if (has_label and has_label("TransientTransactionError")) or "database is locked" in str(seen):
            return True
        if getattr(seen, "timeout", False) is True:  # pymongo's timeoutMS ran out waiting for a lock
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _checklist_write(
    *,
    tenant: Tenant,
    issue: IssueRef,
    actor: Actor,
    expected_version: int | None,
    mutate: Callable[[Checklist, list[ChecklistItem]], list[_Change]],
) -> Checklist | None:
    """Apply `mutate` in one transaction and return the checklist as written; None when an issue without a checklist
    stays without one (a no-op write). `mutate` may run more than once (a retried attempt): it must start over from
    the items it is given each time."""
    for attempt in range(WRITE_ATTEMPTS):
        if attempt:
            # Concurrent writers of one checklist: step aside for a moment, randomly, so they stop colliding.
            time.sleep(random.uniform(0.005, 0.02 * 2**attempt))
        # This attempt's first history row gets this id: finding the row later proves that the attempt committed.
        token = uuid.uuid4()
        written: Checklist | None = None
        try:
            with atomic():
                written = _checklist_attempt(tenant, issue, actor, expected_version, mutate, token)
        except _NoChange:
            return one(Checklist.objects.filter(tenant=tenant, issue_id=issue.id))
        except CommitUnknown as exc:
            # The commit's reply was lost: it may have landed. Retrying blindly would store the change twice.
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
            if not isinstance(exc, DatabaseError | PyMongoError) or not _is_write_conflict(exc):
                raise
            if expected_version is not None:
                raise Conflict("The checklist changed since you loaded it.", status=412) from exc
            continue
        return written
    raise Conflict("The checklist is being edited by others right now; please retry.", status=409)


def _checklist_attempt(tenant, issue, actor, expected_version, mutate, token) -> Checklist:
    """One attempt of _checklist_write, inside its transaction."""
    checklist = _checklist_for_write(tenant, issue)
    if expected_version is not None and checklist.version != expected_version:
        raise Conflict("The checklist changed since you loaded it.", status=412, currentVersion=checklist.version)
    # The version bump comes first: every writer locks the checklist document before any item, so
    # concurrent writers queue up (or conflict) at one point and can never hold each other's locks.
    new_version = checklist.version + 1
    if (
        Checklist.objects.filter(id=checklist.id, version=checklist.version).update(
            version=new_version, updated_at=timezone.now()
        )
        != 1
    ):
        raise _Raced()
    items = list(ChecklistItem.objects.filter(checklist=checklist).order_by("position", "created_at"))
    changes = mutate(checklist, items)
    if not changes:
        raise _NoChange()  # rolls the bump back: a no-op leaves version and history alone
    counts = progress_counts(
        ChecklistItem.objects.filter(checklist=checklist).values_list("status", "is_header", "mandatory")
    )
    Checklist.objects.filter(id=checklist.id).update(**counts)
    ChecklistChange.objects.bulk_create(
        ChecklistChange(
            id=token if index == 0 else uuid.uuid4(),
            tenant=tenant,
            checklist=checklist,
            version=new_version,
            action=c.action,
            actor_account_id=actor.account_id,
            item_id=c.item_id,
            source=actor.source,
            changes=c.changes,
        )
        for index, c in enumerate(changes)
    )
    checklist.version = new_version
    for name, value in counts.items():
        setattr(checklist, name, value)
    on_commit(functools.partial(schedule_progress_sync, checklist.id))
    logger.info("checklist changed", extra={"version": new_version, "changes": len(changes)})
    return checklist


def _attempt_landed(token) -> bool:
    """Whether the attempt whose first history row has this id committed. Asked a few times: the fault that lost
    the commit's reply may still be passing. If it cannot be told, the caller must not guess: 503, reload first."""
    for wait in (0, 0.2, 1.0):
        time.sleep(wait)
        try:
            return ChecklistChange.objects.filter(id=token).exists()
        except (DatabaseError, PyMongoError):
            logger.warning("could not tell whether a write landed", exc_info=True)
    raise WriteOutcomeUnknown()


def _renumber(items: list[ChecklistItem]) -> None:
    for index, item in enumerate(items):
        if item.position != index:
            ChecklistItem.objects.filter(id=item.id).update(position=index)
            item.position = index


def _new_item(checklist: Checklist, actor: Actor, fields: dict, position: int) -> ChecklistItem:
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


# --- item services -----------------------------------------------------------------------------------------------


def item_create(
    *, tenant: Tenant, issue: IssueRef, actor: Actor, data: dict, expected_version: int | None = None
) -> tuple[Checklist, ChecklistItem]:
    position = data.pop("position", None)
    fields = clean_item_fields(data, partial=False)
    if position is not None and (not isinstance(position, int) or isinstance(position, bool) or position < 0):
        raise ValidationFailed({"position": "must be a whole number from 0"})
    created: list[ChecklistItem] = []

    def mutate(checklist, items):
        if len(items) >= MAX_ITEMS:
            raise ValidationFailed({"items": f"a checklist holds at most {MAX_ITEMS} items"}, status=422)
        at = len(items) if position is None else min(position, len(items))
        item = _new_item(checklist, actor, fields, at)
        item.save()
        items.insert(at, item)
        _renumber(items)
        created[:] = [item]  # the item of the attempt that commits, not of an earlier rolled-back one
        return [_Change(ChangeAction.ITEM_ADDED, item.id, {"after": _snapshot(item)})]

    checklist = _checklist_write(
        tenant=tenant, issue=issue, actor=actor, expected_version=expected_version, mutate=mutate
    )
    return checklist, created[0]


def _find(items: list[ChecklistItem], item_id) -> ChecklistItem:
    for item in items:
        if str(item.id) == str(item_id):
            return item
    raise NotFound("item not found")


def item_update(
    *, tenant: Tenant, issue: IssueRef, actor: Actor, item_id, data: dict, expected_version: int | None = None
) -> tuple[Checklist, ChecklistItem]:
    position = data.pop("position", None)
    fields = clean_item_fields(data, partial=True)
    if position is not None and (not isinstance(position, int) or isinstance(position, bool) or position < 0):
        raise ValidationFailed({"position": "must be a whole number from 0"})
    result: list[ChecklistItem] = []

    def mutate(checklist, items):
        item = _find(items, item_id)
        result[:] = [item]
        before = _snapshot(item)
        for name, value in fields.items():
            setattr(item, name, value)
        after = _snapshot(item)
        changes = []
        if before != after:
            context.mark_sensitive(item.text)
            item.updated_by = actor.account_id
            item.save(update_fields=[*fields, "updated_by", "updated_at"])
            changes.append(_Change(ChangeAction.ITEM_UPDATED, item.id, _diff(before, after)))
        if position is not None and position != items.index(item):
            items.remove(item)
            items.insert(min(position, len(items)), item)
            _renumber(items)
            changes.append(_Change(ChangeAction.REORDERED, item.id, {"position": {"after": item.position}}))
        return changes

    checklist = _checklist_write(
        tenant=tenant, issue=issue, actor=actor, expected_version=expected_version, mutate=mutate
    )
    return checklist, result[0]


def item_delete(
    *, tenant: Tenant, issue: IssueRef, actor: Actor, item_id, expected_version: int | None = None
) -> Checklist | None:
    def mutate(checklist, items):
        item = _find(items, item_id)
        snapshot = _snapshot(item)
        deleted_id = item.id
        item.delete()
        items.remove(item)
        _renumber(items)
        return [_Change(ChangeAction.ITEM_DELETED, deleted_id, {"before": snapshot})]

    return _checklist_write(tenant=tenant, issue=issue, actor=actor, expected_version=expected_version, mutate=mutate)


def checklist_reorder(
    *, tenant: Tenant, issue: IssueRef, actor: Actor, item_ids: list, expected_version: int | None = None
) -> Checklist | None:
    if not isinstance(item_ids, list) or not all(isinstance(i, str) for i in item_ids):
        raise ValidationFailed({"itemIds": "must be a list of item ids"})

    def mutate(checklist, items):
        current = [str(i.id) for i in items]
        if len(item_ids) != len(current) or set(item_ids) != set(current):
            raise ValidationFailed({"itemIds": "must list every item of the checklist exactly once"})
        if item_ids == current:
            return []
        by_id = {str(i.id): i for i in items}
        ordered = [by_id[i] for i in item_ids]
        _renumber(ordered)
        return [_Change(ChangeAction.REORDERED, None, {"order": {"before": current, "after": item_ids}})]

    return _checklist_write(tenant=tenant, issue=issue, actor=actor, expected_version=expected_version, mutate=mutate)


def _entry_fields(entry: textformat.Entry) -> dict:
    return {name: getattr(entry, name) for name in ITEM_FIELDS}


def _match_entries(items: list[ChecklistItem], entries: list[textformat.Entry]) -> list[ChecklistItem | None]:
    """For each entry, the existing item it continues (or None for a new one). In order of preference: the longest
    common run of unchanged lines, then the same line moved elsewhere, then an edit in place. So a text edit never
    resets the id or history of an item it did not remove."""
    old_keys = [(i.text, i.is_header) for i in items]
    new_keys = [(e.text, e.is_header) for e in entries]
    match: list[ChecklistItem | None] = [None] * len(entries)
    used: set[int] = set()
    for tag, i1, _i2, j1, j2 in difflib.SequenceMatcher(a=old_keys, b=new_keys, autojunk=False).get_opcodes():
        if tag == "equal":
            for k in range(j2 - j1):
                match[j1 + k] = items[i1 + k]
                used.add(i1 + k)
    free_by_key: dict[tuple, list[int]] = {}
    for i, key in enumerate(old_keys):
        if i not in used:
            free_by_key.setdefault(key, []).append(i)
    for j, key in enumerate(new_keys):
        if match[j] is None and free_by_key.get(key):
            i = free_by_key[key].pop(0)
            match[j] = items[i]
            used.add(i)
    # Edits in place: an unmatched line takes over the unmatched old item right after its nearest matched
    # predecessor (same kind: item or header), i.e. the line that stood in that place before.
    position_of = {id(item): i for i, item in enumerate(items)}
    previous = -1
    for j, entry in enumerate(entries):
        if match[j] is not None:
            previous = position_of[id(match[j])]
            continue
        candidate = previous + 1
        if candidate < len(items) and candidate not in used and items[candidate].is_header == entry.is_header:
            match[j] = items[candidate]
            used.add(candidate)
            previous = candidate
    return match


def _sync_entries(checklist, items, entries, actor) -> list[_Change]:
    """Make `items` equal `entries`, keeping ids wherever an item continues (see _match_entries)."""
    match = _match_entries(items, entries)
    kept = {id(item) for item in match if item is not None}
    removed = [item for item in items if id(item) not in kept]
    old_order = [str(item.id) for item in items if id(item) in kept]
    changes: list[_Change] = []
    for item in removed:
        changes.append(_Change(ChangeAction.ITEM_DELETED, item.id, {"before": _snapshot(item)}))
        item.delete()
    final: list[ChecklistItem] = []
    for index, (item, entry) in enumerate(zip(match, entries, strict=True)):
        fields = _entry_fields(entry)
        if item is None:
            item = _new_item(checklist, actor, fields, index)
            item.save()
            changes.append(_Change(ChangeAction.ITEM_ADDED, item.id, {"after": _snapshot(item)}))
        else:
            before = _snapshot(item)
            for name, value in fields.items():
                setattr(item, name, value)
            after = _snapshot(item)
            if before != after:
                context.mark_sensitive(item.text)
                item.updated_by = actor.account_id
                item.save(update_fields=[*ITEM_FIELDS, "updated_by", "updated_at"])
                changes.append(_Change(ChangeAction.ITEM_UPDATED, item.id, _diff(before, after)))
        final.append(item)
    kept_order = [str(i.id) for i in final if str(i.id) in set(old_order)]
    _renumber(final)
    if kept_order != old_order:
        changes.append(_Change(ChangeAction.REORDERED, None, {"order": {"before": old_order, "after": kept_order}}))
    return changes


def checklist_replace_text(
    *, tenant: Tenant, issue: IssueRef, actor: Actor, text: str, expected_version: int | None = None
) -> Checklist | None:
    """Replace the checklist with `text`. A body of zero bytes is what a lost or unread body looks like, so it never
    removes items: it is refused (422) when there are items, a no-op when there are none. Clearing a checklist
    takes a body that says so: a blank line."""
    entries = textformat.parse(text)
    context.mark_sensitive(*(e.text for e in entries))
    text_actor = Actor(actor.account_id, "text")

    def mutate(checklist, items):
        if not text and items:
            raise ValidationFailed(
                {"body": "is empty; to remove every item, send a blank line (an explicitly empty checklist)"},
                status=422,
            )
        return _sync_entries(checklist, items, entries, text_actor)

    return _checklist_write(
        tenant=tenant, issue=issue, actor=text_actor, expected_version=expected_version, mutate=mutate
    )


# --- templates ---------------------------------------------------------------------------------------------------


def _clean_template(data: dict, *, partial: bool) -> dict:
    errors, cleaned = {}, {}
    if "name" in data or not partial:
        try:
            cleaned["name"] = clean_template_name(data.get("name"))
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if "text" in data or not partial:
        text = data.get("text")
        if not isinstance(text, str):
            errors["text"] = "is required, in the checklist text format"
        else:
            try:
                entries = textformat.parse(text)
                if not entries:
                    errors["text"] = "must hold at least one item"
                cleaned["text"] = textformat.serialize(entries)
            except ValidationFailed as exc:
                errors.update({f"text ({where})": why for where, why in exc.errors.items()})
    for name in ("project_id", "issue_type_id"):
        if name in data:
            try:
                cleaned[name] = clean_jira_id(data[name], name)
            except ValidationFailed as exc:
                errors.update(exc.errors)
    if "auto_apply" in data:
        if not isinstance(data["auto_apply"], bool):
            errors["auto_apply"] = "must be true or false"
        else:
            cleaned["auto_apply"] = data["auto_apply"]
    if errors:
        raise ValidationFailed(errors)
    return cleaned


@atomic
def template_create(*, tenant: Tenant, actor: Actor, data: dict) -> Template:
    fields = _clean_template(data, partial=False)
    if Template.objects.filter(tenant=tenant).count() >= MAX_TEMPLATES:
        raise ValidationFailed({"templates": f"a site holds at most {MAX_TEMPLATES} templates"})
    return Template.objects.create(tenant=tenant, created_by=actor.account_id, **fields)


@atomic
def template_update(*, template: Template, data: dict) -> Template:
    fields = _clean_template(data, partial=True)
    for name, value in fields.items():
        setattr(template, name, value)
    template.save()
    return template


def template_delete(*, template: Template) -> None:
    template.delete()


def template_for_issue(tenant: Tenant, issue: IssueRef) -> Template | None:
    """The auto-apply template that fits best: project and type, then project, then type, then global."""
    best, best_score = None, -1
    for template in Template.objects.filter(tenant=tenant, auto_apply=True).order_by("-created_at"):
        if template.project_id and template.project_id != issue.project_id:
            continue
        if template.issue_type_id and template.issue_type_id != issue.issue_type_id:
            continue
        score = 2 * bool(template.project_id) + bool(template.issue_type_id)
        if score > best_score:
            best, best_score = template, score
    return best


def checklist_apply_template(
    *,
    tenant: Tenant,
    issue: IssueRef,
    actor: Actor,
    template: Template,
    mode: str,
    expected_version: int | None = None,
) -> Checklist:
    if mode not in ("append", "replace"):
        raise ValidationFailed({"mode": "must be append or replace"})
    entries = textformat.parse(template.text)
    template_actor = Actor(actor.account_id, "template")

    def mutate(checklist, items):
        keep = items if mode == "append" else []
        if len(keep) + len(entries) > MAX_ITEMS:
            raise ValidationFailed({"templateId": f"the checklist would exceed {MAX_ITEMS} items"})
        current = [textformat.Entry(**{n: getattr(i, n) for n in ITEM_FIELDS}) for i in keep]
        changes = _sync_entries(checklist, items, current + entries, template_actor)
        if changes:
            changes.append(
                _Change(
                    ChangeAction.TEMPLATE_APPLIED,
                    None,
                    {"template": {"after": str(template.id)}, "mode": {"after": mode}},
                )
            )
        return changes

    return _checklist_write(
        tenant=tenant, issue=issue, actor=template_actor, expected_version=expected_version, mutate=mutate
    )


APP_ACTOR = Actor(APP_ACCOUNT_ID, "template")


def checklist_open(*, tenant: Tenant, issue: IssueRef) -> Checklist | None:
    """The checklist of an issue, applying the matching auto-apply template the first time it is opened. That write
    is the app's own (APP_ACTOR), whoever opened the panel: a viewer who may only browse causes it but is not its
    author, and needs no edit right for it."""
    checklist = one(Checklist.objects.filter(tenant=tenant, issue_id=issue.id))
    if checklist is not None:
        return checklist
    template = template_for_issue(tenant, issue)
    if template is None:
        return None  # nothing to write: an issue without a checklist reads as empty, version 0
    try:
        return checklist_apply_template(
            tenant=tenant, issue=issue, actor=APP_ACTOR, template=template, mode="append", expected_version=0
        )
    except Conflict:
        # Someone else opened it at the same moment and applied the template first.
        return Checklist.objects.filter(tenant=tenant, issue_id=issue.id).first()
    except ValidationFailed:
        # A template stored before today's input rules (validation.py) that they refuse: opening the issue must not
        # fail for it; the template is simply not applied until someone fixes it.
        logger.warning("auto-apply template refused by the input rules", extra={"template_id": str(template.id)})
        return None


def checklist_data_delete(*, tenant_ids) -> dict[str, int]:
    """Every checklist row of these sites (purge, and a one-site restore): one raw delete per table, children first,
    without loading rows or sending per-row signals. Returns the count per model."""
    tenant_ids = list(tenant_ids)
    deleted = {}
    for model in (ChecklistChange, ChecklistItem, Template, Checklist):
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
