"""The item services: add, edit, delete, reorder, and replace the whole list from text mode; each is one
`_checklist_write` (writes.py)."""

import difflib
import uuid
from typing import Any

from core import context
from core.exceptions import NotFound, ValidationFailed
from core.rows import save_fields
from tenants.models import Tenant
from tenants.types import IssueRef

from .. import textformat
from ..models import (
    MAX_ITEMS,
    ChangeAction,
    Checklist,
    ChecklistItem,
)
from ..preconditions import ItemTag, check_item
from ..statuses import SiteStatuses
from ..validation import clean_header_update, clean_item_fields, clean_position
from .writes import (
    ITEM_FIELDS,
    Actor,
    _Change,
    _checklist_write,
    _diff,
    _new_item,
    _renumber,
    _snapshot,
)


def item_create(
    *, tenant: Tenant, issue: IssueRef, actor: Actor, data: dict[str, Any], expected_version: int | None = None
) -> tuple[Checklist, ChecklistItem]:
    position = data.pop("position", None)
    fields = clean_item_fields(data, partial=False, statuses=SiteStatuses(tenant))
    position = clean_position(position)
    created: list[ChecklistItem] = []

    def mutate(checklist: Checklist, items: list[ChecklistItem]) -> list[_Change]:
        if len(items) >= MAX_ITEMS:
            raise ValidationFailed({"items": f"cannot exceed {MAX_ITEMS} in one checklist"}, status=422)
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
    assert checklist is not None  # an added item is always a change, so there is a checklist as written
    return checklist, created[0]


def _find(
    checklist: Checklist, items: list[ChecklistItem], item_id: uuid.UUID, expected_item: ItemTag | None
) -> ChecklistItem:
    item = check_item(checklist, items, item_id, expected_item)
    if item is None:
        raise NotFound("item not found")
    return item


def item_update(
    *,
    tenant: Tenant,
    issue: IssueRef,
    actor: Actor,
    item_id: uuid.UUID,
    data: dict[str, Any],
    expected_version: int | None = None,
    expected_item: ItemTag | None = None,
) -> tuple[Checklist, ChecklistItem]:
    position = data.pop("position", None)
    fields = clean_item_fields(data, partial=True, statuses=SiteStatuses(tenant))
    position = clean_position(position)
    result: list[ChecklistItem] = []

    def mutate(checklist: Checklist, items: list[ChecklistItem]) -> list[_Change]:
        item = _find(checklist, items, item_id, expected_item)
        result[:] = [item]
        before = _snapshot(item)
        writes = clean_header_update(fields, is_header=item.is_header)
        for name, value in writes.items():
            setattr(item, name, value)
        after = _snapshot(item)
        changes: list[_Change] = []
        if before != after:
            context.mark_sensitive(item.text)
            item.updated_by = actor.account_id
            item.version += 1
            save_fields(item, [*writes, "version", "updated_by", "updated_at"])
            changes.append(_Change(ChangeAction.ITEM_UPDATED, item.id, _diff(before, after)))
        if position is not None and position != items.index(item):
            items.remove(item)
            items.insert(min(position, len(items)), item)
            _renumber(items)
            changes.append(_Change(ChangeAction.REORDERED, item.id, {"position": {"after": item.position}}))
        return changes

    checklist = _checklist_write(
        tenant=tenant,
        issue=issue,
        actor=actor,
        expected_version=expected_version,
        mutate=mutate,
        # Without a move, only this item changes: the write reads it alone (and the others' counted fields).
        only_item=item_id if position is None else None,
    )
    # The item was found, so its checklist exists: a write that changed nothing returns it as it stands.
    assert checklist is not None
    return checklist, result[0]


def item_delete(
    *,
    tenant: Tenant,
    issue: IssueRef,
    actor: Actor,
    item_id: uuid.UUID,
    expected_version: int | None = None,
    expected_item: ItemTag | None = None,
) -> Checklist:
    def mutate(checklist: Checklist, items: list[ChecklistItem]) -> list[_Change]:
        item = _find(checklist, items, item_id, expected_item)
        snapshot = _snapshot(item)
        deleted_id = item.id
        item.delete()
        items.remove(item)
        _renumber(items)
        return [_Change(ChangeAction.ITEM_DELETED, deleted_id, {"before": snapshot})]

    checklist = _checklist_write(
        tenant=tenant, issue=issue, actor=actor, expected_version=expected_version, mutate=mutate
    )
    assert checklist is not None  # a deleted item is always a change, so there is a checklist as written
    return checklist


def checklist_reorder(
    *, tenant: Tenant, issue: IssueRef, actor: Actor, item_ids: list[str], expected_version: int | None = None
) -> Checklist | None:
    if not isinstance(item_ids, list) or not all(isinstance(i, str) for i in item_ids):
        raise ValidationFailed({"itemIds": "must be a list of item ids"})

    def mutate(checklist: Checklist, items: list[ChecklistItem]) -> list[_Change]:
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


def _entry_fields(entry: textformat.Entry) -> dict[str, Any]:
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
    free_by_key: dict[tuple[str, bool], list[int]] = {}
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


def _sync_entries(
    checklist: Checklist, items: list[ChecklistItem], entries: list[textformat.Entry], actor: Actor
) -> list[_Change]:
    """Make `items` equal `entries`, keeping ids wherever an item continues (see _match_entries)."""
    match = _match_entries(items, entries)
    kept = {id(item) for item in match if item is not None}
    removed = [item for item in items if id(item) not in kept]
    old_order = [str(item.id) for item in items if id(item) in kept]
    changes: list[_Change] = []
    for gone in removed:
        changes.append(_Change(ChangeAction.ITEM_DELETED, gone.id, {"before": _snapshot(gone)}))
        gone.delete()
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
                item.version += 1
                item.save(update_fields=[*ITEM_FIELDS, "version", "updated_by", "updated_at"])
                changes.append(_Change(ChangeAction.ITEM_UPDATED, item.id, _diff(before, after)))
        final.append(item)
    kept_order = [str(i.id) for i in final if str(i.id) in set(old_order)]
    _renumber(final)
    items[:] = final  # the caller's list is the checklist's items after the change (writes.py counts them)
    if kept_order != old_order:
        changes.append(_Change(ChangeAction.REORDERED, None, {"order": {"before": old_order, "after": kept_order}}))
    return changes


def checklist_replace_text(
    *, tenant: Tenant, issue: IssueRef, actor: Actor, text: str, expected_version: int | None = None
) -> Checklist | None:
    """Replace the checklist with `text`. A body of zero bytes is what a lost or unread body looks like, so it never
    removes items: it is refused (422) when there are items, a no-op when there are none. So is a byte order mark
    with nothing but whitespace after it: an editor's empty file, not a decision. Clearing a checklist takes a body
    that says so: a blank line."""
    entries = textformat.parse(text, SiteStatuses(tenant))
    context.mark_sensitive(*(e.text for e in entries))
    text_actor = Actor(actor.account_id, "text")
    empty = not text or (text.startswith("\ufeff") and not text[1:].strip())

    def mutate(checklist: Checklist, items: list[ChecklistItem]) -> list[_Change]:
        if empty and items:
            raise ValidationFailed(
                {"body": "is empty; to remove every item, send a blank line (an explicitly empty checklist)"},
                status=422,
            )
        return _sync_entries(checklist, items, entries, text_actor)

    return _checklist_write(
        tenant=tenant, issue=issue, actor=text_actor, expected_version=expected_version, mutate=mutate
    )
