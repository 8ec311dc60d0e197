"""
The input rules for text that customers write: one set, used by every path that stores it (the JSON API, the text
format, templates, CSV import, restore). A path may shape its input differently, but what reaches the database
passed these functions, so the same garbage is refused the same way wherever it comes in.

- One line of text: no line breaks, no control characters, no lone surrogates (they cannot be encoded to UTF-8, so
  the database driver would fail on them), at most a given length.
- Identifiers match exactly: Jira ids are ASCII digits (`str.isdigit()` and `\\d` admit other scripts, and `$`
  admits a trailing newline), accountIds are Atlassian's ASCII shape.
"""

import re
import unicodedata
from collections.abc import Container
from datetime import date

from core import context
from core.exceptions import ValidationFailed
from core.identifiers import is_account_id, is_jira_id

from .models import (
    MAX_ACCOUNT_ID,
    MAX_ISSUE_ID,
    MAX_ITEM_TEXT,
    MAX_STATUS_KEY,
    MAX_STATUS_NAME,
    MAX_TEMPLATE_NAME,
    ItemStatus,
)

# Characters that end a line for str.splitlines(), besides the control characters already refused as such.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
# Cc: C0/C1 control characters; Cs: surrogates (only lone ones can reach a Python str from JSON or a form).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs"})

# Bidirectional embedding, override and isolate controls: they make text read differently from what it is
# ("Trojan Source"), and no checklist item needs them (right-to-left scripts render without them).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

MAX_CSV_FIELD = 255
BUILTIN_STATUSES = frozenset(ItemStatus.values)
# A site status's key: what items store and text mode writes in the box (`- [review] text`). Two characters at least,
# so a one-character box is always one of the five built in.
STATUS_KEY = re.compile(r"[a-z][a-z0-9_]{1," + str(MAX_STATUS_KEY - 1) + "}", re.ASCII)
_COLOR = re.compile(r"#[0-9a-fA-F]{6}", re.ASCII)


def bad_character(value: str) -> str | None:
    """Why `value` cannot be stored as one line of text, or None when it can."""
    for ch in value:
        if ch in _LINE_BREAKS:
            return "must be a single line"
        category = unicodedata.category(ch)
        if category == "Cs":
            return "must not contain lone surrogates (invalid Unicode)"
        if category in _REFUSED_CATEGORIES:
            return "must not contain control characters"
        if ch in _BIDI_CONTROLS:
            return "must not contain bidirectional override characters"
    return None


def _invisible(value: str) -> bool:
    """Only format characters and spaces (zero-width spaces, joiners, a BOM): text nobody could see or click."""
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in value)


def clean_line(value, field_name: str, *, max_length: int, required: bool = True) -> str:
    """The one rule for a line of customer text: a string, tabs as spaces, trimmed, not empty (when required), at most
    `max_length` characters, and no line breaks, control characters or lone surrogates.

    Whatever passes here is customer text (an item, a template's name and lines, a status's name, a contact's name):
    it is marked for the scrubber (core.context.mark_sensitive), as written and as cleaned, so no log line or Sentry
    event of this request or task shows it, whichever door it came in by. A write the database then refuses reaches
    Sentry with its frames' variables (the request's parsed body among them): a template's name and text went out
    whole, marked by no service."""
    if not isinstance(value, str):
        raise ValidationFailed({field_name: "must be a string"})
    written, value = value, value.replace("\t", " ").strip()
    if not value or _invisible(value):
        if required:
            raise ValidationFailed({field_name: "must not be empty"})
        return ""
    if len(value) > max_length:
        raise ValidationFailed({field_name: f"must be at most {max_length} characters"})
    if why := bad_character(value):
        raise ValidationFailed({field_name: why})
    context.mark_sensitive(*{written, value})
    return value


def clean_item_text(value, field_name: str = "text") -> str:
    """Item and header text (headers are items; the same length applies)."""
    return clean_line(value, field_name, max_length=MAX_ITEM_TEXT)


def clean_template_name(value, field_name: str = "name") -> str:
    return clean_line(value, field_name, max_length=MAX_TEMPLATE_NAME)


def clean_account_id(value, field_name: str = "assignee_account_id") -> str:
    """An Atlassian accountId, or "" for none."""
    if value in (None, ""):
        return ""
    if not is_account_id(value):
        raise ValidationFailed({field_name: f"must be an Atlassian accountId (at most {MAX_ACCOUNT_ID} characters)"})
    return value


def clean_position(value) -> int | None:
    """Where an item goes in its checklist: a whole number from 0 (past the end means last), or None for the end."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ValidationFailed({"position": "must be a whole number from 0"})
    return value


def clean_apply_mode(value) -> str:
    """How a template is applied: appended after the items, or replacing them."""
    if value not in ("append", "replace"):
        raise ValidationFailed({"mode": "must be append or replace"})
    return value


def clean_jira_id(value, field_name: str) -> str:
    """An optional numeric Jira id (a project or issue type of a template): "" for none."""
    if value in (None, ""):
        return ""
    if not is_jira_id(value, max_length=MAX_ISSUE_ID):
        raise ValidationFailed({field_name: "must be a numeric Jira id, or null"})
    return value


def clean_csv_field(value, field_name: str, *, max_length: int = MAX_CSV_FIELD) -> str:
    """A cell of an imported CSV: optional, one line, the same character rules as item text."""
    if value is None:
        return ""
    return clean_line(value, field_name, max_length=max_length, required=False)


def clean_status(value, statuses: Container[str] = BUILTIN_STATUSES, field_name: str = "status") -> str:
    """An item status: one of the five built in, or a key of the site's own statuses (`statuses`, see
    checklists/statuses.py, which asks the database only for a value outside the five)."""
    if not isinstance(value, str) or value not in statuses:
        raise ValidationFailed({field_name: f"must be one of {', '.join(ItemStatus.values)} or a status of this site"})
    return value


def clean_status_key(value, field_name: str = "key") -> str:
    if not isinstance(value, str) or not STATUS_KEY.fullmatch(value) or value in BUILTIN_STATUSES:
        raise ValidationFailed(
            {
                field_name: f"must be 2 to {MAX_STATUS_KEY} lowercase letters, digits or _ (a letter first), "
                "and not a built-in status"
            }
        )
    return value


def clean_status_name(value, field_name: str = "name") -> str:
    return clean_line(value, field_name, max_length=MAX_STATUS_NAME)


def clean_color(value, field_name: str = "color") -> str:
    if not isinstance(value, str) or not _COLOR.fullmatch(value):
        raise ValidationFailed({field_name: "must be a colour as #rrggbb"})
    return value.lower()


def clean_bool(value, field_name: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed({field_name: "must be true or false"})
    return value


def clean_item_fields(data: dict, *, partial: bool, statuses: Container[str] = BUILTIN_STATUSES) -> dict:
    """Validate item fields (snake_case keys). Collects every bad field before failing. `statuses`: what a status
    may be on this site (the five built in by default)."""
    errors, cleaned = {}, {}
    for name, value in data.items():
        try:
            if name == "text":
                cleaned[name] = clean_item_text(value)
            elif name == "status":
                cleaned[name] = clean_status(value, statuses)
            elif name in ("is_header", "mandatory", "customer_visible"):
                cleaned[name] = clean_bool(value, name)
            elif name == "assignee_account_id":
                cleaned[name] = clean_account_id(value, name)
            elif name == "due_date":
                cleaned[name] = _clean_due_date(value, name)
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if not partial and "text" not in data:
        errors["text"] = "is required"
    if errors:
        raise ValidationFailed(errors)
    if cleaned.get("is_header"):
        _refuse_header_fields(cleaned)
        cleaned["mandatory"] = False
    return cleaned


# A header is a title only: text mode writes it as `## text`, so a status, assignee, due date or customer visibility
# on it would not survive a round trip (GET text then PUT text must change nothing), and the service portal shows
# items, not sections. Such fields are refused when a write sets them on a header, and reset when an item becomes a
# header.
HEADER_FIELDS = {
    "status": ItemStatus.TODO,
    "mandatory": False,
    "assignee_account_id": "",
    "due_date": None,
    "customer_visible": False,
}
_HEADER_REFUSALS = {
    **dict.fromkeys(("status", "assignee_account_id", "due_date"), "a header has no status, assignee or due date"),
    "customer_visible": "a header is never shown to customers; only items are",
}


def _refuse_header_fields(fields: dict) -> None:
    errors = {
        name: reason
        for name, reason in _HEADER_REFUSALS.items()
        if name in fields and fields[name] != HEADER_FIELDS[name]
    }
    if errors:
        raise ValidationFailed(errors)


def clean_header_update(fields: dict, *, is_header: bool) -> dict:
    """The cleaned fields of an update to an item that is a header (is_header) or becomes one."""
    if not fields.get("is_header", is_header):
        return fields
    _refuse_header_fields(fields)
    return {**fields, **HEADER_FIELDS} if not is_header else fields


def _clean_due_date(value, field_name: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    # Only YYYY-MM-DD: Python also reads ISO week dates ("2026-W01-1") of the same length.
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValidationFailed({field_name: "must be a date as YYYY-MM-DD, or null"})
