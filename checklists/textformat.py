"""
The checklist as plain text (contract v1), one entry per line:

    ## Release steps                      a header
    - [ ] write notes                     todo          ([~] in progress, [x] done, [-] skipped, [!] blocked)
    - [ ]? optional polish                `?` after the box: not mandatory
    - [ ] deploy {@557058:abc due:2026-12-01}   optional attributes: assignee accountId and due date
    - [review] check the diff             a status the site defined, by its key (a built-in one's name works too)
    - [ ] reset your password {customer}        shown to customers on the service portal

Blank lines are ignored. A plain line without a box is read as a todo item, so pasted lists just work.
An item whose own text ends in something shaped like an attribute group is written with an empty group `{}`
after it, which the parser removes again: serialize(parse(x)) round-trips exactly.
"""

import re
from collections.abc import Container
from dataclasses import dataclass
from datetime import date

from core.exceptions import ValidationFailed

from .models import MAX_ITEMS
from .validation import BUILTIN_STATUSES, clean_account_id, clean_item_text

BOX_TO_STATUS = {" ": "todo", "~": "in_progress", "x": "done", "X": "done", "-": "skipped", "!": "blocked"}
STATUS_TO_BOX = {"todo": " ", "in_progress": "~", "done": "x", "skipped": "-", "blocked": "!"}

# All matched with fullmatch: a line never holds a line break (splitlines), and `$` would admit one anyway.
_HEADER = re.compile(r"#{1,6}(?:\s+(?P<text>.*))?")
# A box is one character, or a status key (validation.STATUS_KEY: lowercase, so `- [WIP] x` stays plain text).
_ITEM = re.compile(r"[-*]\s*\[(?P<box>.|[a-z][a-z0-9_]{1,15})\](?P<optional>\?)?(?:\s+(?P<text>.*))?")
_BULLET = re.compile(r"[-*]\s+(?P<text>.*)")
# The inside of an attribute group. The accountId here is only its shape; its length is validation's to judge.
_ATTR_GROUP = re.compile(r"(?:@[A-Za-z0-9:_-]+)?(?:\s*due:[0-9]{4}-[0-9]{2}-[0-9]{2})?(?:\s*customer)?")
CUSTOMER = "customer"  # the attribute of an item visible to customers (service portal)


@dataclass(frozen=True)
class Entry:
    text: str
    status: str = "todo"
    is_header: bool = False
    mandatory: bool = True
    assignee_account_id: str = ""
    due_date: date | None = None
    customer_visible: bool = False

    def key(self) -> tuple:
        return (self.text, self.status, self.is_header, self.mandatory, self.assignee_account_id, self.due_date)


def _attribute_group(text: str) -> tuple[str, str] | None:
    """(text before, inside) when `text` ends in an attribute group `{...}`, else None. A group holds no braces, so
    it starts at the last `{`: found without a pattern that could backtrack over a long line."""
    if not text.endswith("}"):
        return None
    start = text.rfind("{")
    if start < 0 or not _ATTR_GROUP.fullmatch(text, start + 1, len(text) - 1):
        return None
    return text[:start], text[start + 1 : -1]


def assignees_named(text: str) -> set[str]:
    """The accountIds the attribute groups of a text name (a template's assignees), read line by line as parse reads
    them: what personal data reporting must report of a template."""
    found: set[str] = set()
    for line in text.splitlines():
        if group := _attribute_group(line.rstrip()):
            found.update(token[1:] for token in group[1].split() if token.startswith("@"))
    return found


def assignee_renamed(text: str, old: str, new: str) -> str:
    """The text with `old` replaced by `new` wherever an attribute group names it as the assignee, and nothing else
    changed (an erased account's pseudonym in a template)."""
    lines = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip()
        group = _attribute_group(body)
        if group and f"@{old}" in group[1].split():
            inside = " ".join(f"@{new}" if token == f"@{old}" else token for token in group[1].split())
            line = f"{group[0]}{{{inside}}}{line[len(body) :]}"
        lines.append(line)
    return "".join(lines)


def _split_attributes(text: str, line_no: int, errors: dict) -> tuple[str, str, date | None, bool]:
    group = _attribute_group(text)
    if group is None:
        return text, "", None, False
    body, attrs = group
    assignee, due, customer = "", None, False
    for token in attrs.split():
        if token == CUSTOMER:
            customer = True
        elif token.startswith("@"):
            assignee = token[1:]
        else:
            try:
                due = date.fromisoformat(token.removeprefix("due:"))
            except ValueError:
                errors[f"line {line_no}"] = f"'{token}' is not a valid date"
    return body.rstrip(), assignee, due, customer


def _checked(body: str, what: str, line_no: int, errors: dict) -> str:
    """The line's text under the one rule set (validation.clean_item_text), or "" with the reason recorded."""
    try:
        return clean_item_text(body, what)
    except ValidationFailed as exc:
        errors[f"line {line_no}"] = f"{what} {next(iter(exc.errors.values()))}"
        return ""


def parse(text: str, statuses: Container[str] = BUILTIN_STATUSES) -> list[Entry]:
    """`statuses`: the statuses a `[key]` box may name (the site's, see checklists/statuses.py)."""
    entries: list[Entry] = []
    errors: dict[str, str] = {}
    # A byte order mark is how some editors (Windows Notepad) begin a file, not text of the first line.
    text = text.removeprefix("\ufeff")
    lines = 0
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        lines += 1
        if lines > MAX_ITEMS:
            # Every line that is not blank is an item (or a mistake in one): refused whatever follows. 1 MiB of short
            # lines is half a million of them, each costing a check and, if wrong, an error kept.
            # Named first: an answer names at most 50 fields, and this one says what to fix before any line.
            errors = {"text": f"cannot hold more than {MAX_ITEMS} items (a checklist's limit)", **errors}
            break
        if header := _HEADER.fullmatch(line):
            body = (header.group("text") or "").strip()
            if not body:
                errors[f"line {line_no}"] = "a header needs text after '##'"
            elif cleaned := _checked(body, "header", line_no, errors):
                entries.append(Entry(text=cleaned, is_header=True, mandatory=False))
            continue
        status, mandatory = "todo", True
        if item := _ITEM.fullmatch(line):
            box = item.group("box")
            if len(box) > 1 and (box in BUILTIN_STATUSES or box in statuses):
                status = box
            elif box in BOX_TO_STATUS:
                status = BOX_TO_STATUS[box]
            else:
                known = "" if len(box) == 1 else " or a status of this site"
                errors[f"line {line_no}"] = f"unknown status box [{box}]; use one of [ ] [~] [x] [-] [!]{known}"
                continue
            mandatory = not item.group("optional")
            body = (item.group("text") or "").strip()
        elif bullet := _BULLET.fullmatch(line):
            body = bullet.group("text").strip()
        else:
            body = line
        body, assignee, due, customer = _split_attributes(body, line_no, errors)
        try:
            assignee = clean_account_id(assignee)
        except ValidationFailed as exc:
            errors[f"line {line_no}"] = f"assignee {next(iter(exc.errors.values()))}"
            continue
        if not body:
            errors[f"line {line_no}"] = "an item needs text"
        elif cleaned := _checked(body, "item text", line_no, errors):
            entries.append(Entry(cleaned, status, False, mandatory, assignee, due, customer))
    if errors:
        raise ValidationFailed(errors)
    return entries


def _needs_escape(text: str) -> bool:
    return _attribute_group(text) is not None


def serialize_entry(entry: Entry) -> str:
    if entry.is_header:
        return f"## {entry.text}"
    attrs = " ".join(
        part
        for part in (
            f"@{entry.assignee_account_id}" if entry.assignee_account_id else "",
            f"due:{entry.due_date.isoformat()}" if entry.due_date else "",
            CUSTOMER if entry.customer_visible else "",
        )
        if part
    )
    suffix = f" {{{attrs}}}" if attrs or _needs_escape(entry.text) else ""
    optional = "" if entry.mandatory else "?"
    return f"- [{STATUS_TO_BOX.get(entry.status, entry.status)}]{optional} {entry.text}{suffix}"


def serialize(entries: list[Entry]) -> str:
    return "".join(serialize_entry(e) + "\n" for e in entries)
