"""
What a write may be conditional on, read from its If-Match header (README "Edits that never collide").

- The checklist version (`7` or `"7"`), as the contract says: any change to the checklist since makes it 412.
- One item's ETag (`"item-<id>-<version>"`, the item's `id` and `version` from its JSON), for a PATCH or DELETE of
  that item: only a change to that item since makes it 412, so people editing different items never conflict.

Anything else is 400 naming If-Match. The item check itself runs inside the write's transaction (services/items.py),
against the item as stored, so it holds under concurrent writers and retried attempts alike.
"""

import re
import uuid
from dataclasses import dataclass

from core.exceptions import Conflict, ValidationFailed

from .models import ChangeAction, Checklist, ChecklistChange, ChecklistItem
from .serializers import item_json

# W/ tolerated: older gzipped answers sent weak ETags.
_CHECKLIST_TAG = re.compile(r'(?:W/)?(?:"([0-9]{1,12})"|([0-9]{1,12}))', re.ASCII)
_ITEM_TAG = re.compile(
    r'(?:W/)?"?item-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})-([0-9]{1,12})"?',
    re.ASCII,
)
_MALFORMED = 'must be the checklist version (a whole number) or an item\'s ETag ("item-<id>-<version>")'


@dataclass(frozen=True)
class ItemTag:
    item_id: uuid.UUID
    version: int


def parse_if_match(raw: str | None) -> int | ItemTag | None:
    """The header's precondition: a checklist version, an item's tag, or None when there is none."""
    if raw is None:
        return None
    raw = raw.strip()
    match = _CHECKLIST_TAG.fullmatch(raw)
    if match:
        return int(match.group(1) or match.group(2))
    match = _ITEM_TAG.fullmatch(raw)
    if match and raw.count('"') in (0, 2):
        return ItemTag(uuid.UUID(match.group(1)), int(match.group(2)))
    raise ValidationFailed({"If-Match": _MALFORMED}, status=400)


def item_etag(item: ChecklistItem) -> str:
    return f'"item-{item.id}-{item.version}"'


class ItemChanged(Conflict):
    """412: the item changed (or was deleted) since the version the write was based on. The body carries the item
    as stored now (`currentItem`, null when deleted), so a client can show both versions and keep its own."""

    def __init__(self, checklist: Checklist, current_item: dict | None, detail: str):
        super().__init__(detail, status=412, currentVersion=checklist.version, currentItem=current_item)


def check_item(
    checklist: Checklist, items: list[ChecklistItem], item_id: object, expected: ItemTag | None
) -> ChecklistItem | None:
    """The item `item_id` of `items` (None when it is not there), after checking the write's item precondition.
    A missing item is 412 only when the precondition names it and this checklist's history shows it deleted; else
    the caller's usual 404 (another checklist's or another site's id reveals nothing)."""
    for item in items:
        if str(item.id) == str(item_id):
            if expected is None:
                return item
            if expected.item_id != item.id:
                raise ItemChanged(checklist, item_json(item), "If-Match names another item than this one.")
            if expected.version != item.version:
                raise ItemChanged(
                    checklist,
                    item_json(item),
                    "This item changed since you loaded it (If-Match names an older version).",
                )
            return item
    if (
        expected is not None
        and str(expected.item_id) == str(item_id)
        and ChecklistChange.objects.filter(
            checklist=checklist, item_id=expected.item_id, action=ChangeAction.ITEM_DELETED
        ).exists()
    ):
        raise ItemChanged(checklist, None, "This item was deleted by someone else since you loaded it.")
    return None
