"""
The checklist services, split by subdomain: writes (the one write path, `_checklist_write`, and the `Actor` every
write names), items, templates, and data (deletion). Callers keep importing from `checklists.services`, which
re-exports their public names.
"""

from ..progress import progress_json
from .data import checklist_data_delete, checklist_data_merge, checklist_delete_for_issue, checklist_versions_bump
from .items import checklist_reorder, checklist_replace_text, item_create, item_delete, item_update
from .statuses import status_create, status_delete, status_update
from .templates import (
    APP_ACTOR,
    checklist_apply_template,
    checklist_open,
    template_create,
    template_delete,
    template_fits_issue,
    template_for_issue,
    template_update,
)
from .writes import ITEM_FIELDS, WRITE_ATTEMPTS, Actor, WriteOutcomeUnknown

__all__ = [
    "APP_ACTOR",
    "ITEM_FIELDS",
    "WRITE_ATTEMPTS",
    "Actor",
    "WriteOutcomeUnknown",
    "checklist_apply_template",
    "checklist_data_delete",
    "checklist_data_merge",
    "checklist_delete_for_issue",
    "checklist_versions_bump",
    "checklist_open",
    "checklist_reorder",
    "checklist_replace_text",
    "item_create",
    "item_delete",
    "item_update",
    "progress_json",
    "status_create",
    "status_delete",
    "status_update",
    "template_create",
    "template_delete",
    "template_fits_issue",
    "template_for_issue",
    "template_update",
]
