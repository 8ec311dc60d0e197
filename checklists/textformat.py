"""
The checklist as plain text (contract v1), one entry per line:

    ## Release steps                      a header
    - [ ] write notes                     todo          ([~] in progress, [x] done, [-] skipped, [!] blocked)
    - [ ]? optional polish                `?` after the box: not mandatory
    - [ ] deploy {@557058:abc due:2026-12-01}   optional attributes: assignee accountId and due date

Blank lines are ignored. A plain line without a box is read as a todo item, so pasted lists just work.
An item whose own text ends in something shaped like an attribute group is written with an empty group `{}`
after it, which the parser removes again: serialize(parse(x)) round-trips exactly.
"""

import re
from dataclasses import dataclass
from datetime import date

from core.exceptions import ValidationFailed

from .models import MAX_ACCOUNT_ID, MAX_ITEM_TEXT, MAX_ITEMS

BOX_TO_STATUS = {" ": "todo", "~": "in_progress", "x": "done", "X": "done", "-": "skipped", "!": "blocked"}
STATUS_TO_BOX = {"todo": " ", "in_progress": "~", "done": "x", "skipped": "-", "blocked": "!"}

_HEADER = re.compile(r"^#{1,6}(?:\s+(?P<text>.*))?$")
_ITEM = re.compile(r"^[-*]\s*\[(?P<box>.)\](?P<optional>\?)?(?:\s+(?P<text>.*))?$")
_BULLET = re.compile(r"^[-*]\s+(?P<text>.*)$")
ACCOUNT_ID = re.compile(r"^[A-Za-z0-9:_-]{1," + str(MAX_ACCOUNT_ID) + r"}$")
_ATTRS = re.compile(r"^(?P<body>.*?)\s*\{(?P<attrs>(?:@[A-Za-z0-9:_-]+)?(?:\s*due:\d{4}-\d{2}-\d{2})?)\}$")


@dataclass(frozen=True)
class Entry:
    text: str
    status: str = "todo"
    is_header: bool = False
    mandatory: bool = True
    assignee_account_id: str = ""
    due_date: date | None = None

    def key(self) -> tuple:
        return (self.text, self.status, self.is_header, self.mandatory, self.assignee_account_id, self.due_date)


def _split_attributes(text: str, line_no: int, errors: dict) -> tuple[str, str, date | None]:
    match = _ATTRS.match(text)
    if not match:
        return text, "", None
    assignee, due = "", None
    for token in match.group("attrs").split():
        if token.startswith("@"):
            assignee = token[1:]
        else:
            try:
                due = date.fromisoformat(token.removeprefix("due:"))
            except ValueError:
                errors[f"line {line_no}"] = f"'{token}' is not a valid date"
    return match.group("body").rstrip(), assignee, due


def parse(text: str) -> list[Entry]:
    entries: list[Entry] = []
    errors: dict[str, str] = {}
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if header := _HEADER.match(line):
            body = (header.group("text") or "").strip()
            if not body:
                errors[f"line {line_no}"] = "a header needs text after '##'"
                continue
            entries.append(Entry(text=body, is_header=True, mandatory=False))
            continue
        status, mandatory = "todo", True
        if item := _ITEM.match(line):
            box = item.group("box")
            if box not in BOX_TO_STATUS:
                errors[f"line {line_no}"] = f"unknown status box [{box}]; use one of [ ] [~] [x] [-] [!]"
                continue
            status, mandatory = BOX_TO_STATUS[box], not item.group("optional")
            body = (item.group("text") or "").strip()
        elif bullet := _BULLET.match(line):
            body = bullet.group("text").strip()
        else:
            body = line
        body, assignee, due = _split_attributes(body, line_no, errors)
        if not body:
            errors[f"line {line_no}"] = "an item needs text"
        elif len(body) > MAX_ITEM_TEXT:
            errors[f"line {line_no}"] = f"item text is longer than {MAX_ITEM_TEXT} characters"
        else:
            entries.append(Entry(body, status, False, mandatory, assignee, due))
    if len(entries) > MAX_ITEMS:
        errors["text"] = f"a checklist holds at most {MAX_ITEMS} items"
    if errors:
        raise ValidationFailed(errors)
    return entries


def _needs_escape(text: str) -> bool:
    return _ATTRS.match(text) is not None


def serialize_entry(entry: Entry) -> str:
    if entry.is_header:
        return f"## {entry.text}"
    attrs = " ".join(
        part
        for part in (
            f"@{entry.assignee_account_id}" if entry.assignee_account_id else "",
            f"due:{entry.due_date.isoformat()}" if entry.due_date else "",
        )
        if part
    )
    suffix = f" {{{attrs}}}" if attrs or _needs_escape(entry.text) else ""
    optional = "" if entry.mandatory else "?"
    return f"- [{STATUS_TO_BOX[entry.status]}]{optional} {entry.text}{suffix}"


def serialize(entries: list[Entry]) -> str:
    return "".join(serialize_entry(e) + "\n" for e in entries)
