"""The workflow rules' one definition: the options an admin picks, the Jira expression Jira evaluates on each
transition (Connect descriptor, Forge manifest and config pages all take it from here), and the extra counts the
progress property carries for it. Counts only: a header is named in the property by a keyed hash, never its text."""

import hashlib
import hmac
import re
import unicodedata

from .models import ChecklistItem, ItemStatus
from .statuses import SiteStatuses

PROPERTY_KEY = "herochecklist-progress"  # tenants.descriptor.PROGRESS_PROPERTY; kept here so this module stands alone
MAX_SECTIONS = 100  # headers hashed into the property; a checklist holds at most 500 items, the property 32 KB

REQUIRED = "required"  # every required item done or skipped (the default)
ALL = "all"  # every item, optional ones too, done or skipped
NO_BLOCKED = "noBlocked"  # no item blocked
SECTION = "section"  # every required item under one named header done or skipped
MODES = {
    REQUIRED: "All required items done or skipped",
    ALL: "All items done or skipped (optional ones too)",
    NO_BLOCKED: "No item blocked",
    SECTION: "A named header's section done",
}

# Said by the validator instead of passing when the property cannot be trusted (see README "Workflow rules").
NO_CHECKLIST = "This issue has no checklist yet."
PENDING = "The checklist has changes that are not in Jira yet; try again in a moment."
EMPTY = "The checklist has no items."

_SPACE = re.compile(r"\s+")


def normalise_header(text: str) -> str:
    """What makes two headers the same section: Unicode compatibility form, case folded, runs of spaces as one."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def section_key(tenant_id, text: str) -> str:
    """A header's name in the property: HMAC-SHA256 of its normalised text keyed by the site's id, 16 hex digits.
    The site id never leaves our database, so the property names no header, even to someone guessing short ones."""
    digest = hmac.new(str(tenant_id).encode(), normalise_header(text).encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def rule_counts(checklist) -> dict:
    """What the options need beyond the contract's counts: blocked items and each section's open required items."""
    rows = (
        ChecklistItem.objects.filter(checklist_id=checklist.id)
        .order_by("position", "created_at")
        .values_list("status", "is_header", "mandatory", "text")
    )
    complete = SiteStatuses(checklist.tenant_id).complete  # a site status may count as done, as in the progress
    blocked, sections, current = 0, {}, None
    for status, is_header, mandatory, text in rows:
        if is_header:
            current = section_key(checklist.tenant_id, text)
            if current not in sections and len(sections) >= MAX_SECTIONS:
                current = None  # past the cap: a validator on such a section blocks (no such section)
            else:
                sections.setdefault(current, 0)
            continue
        blocked += status == ItemStatus.BLOCKED
        if current is not None and mandatory and status not in complete:
            sections[current] += 1
    return {"blocked": blocked, "sections": sections}


def _plural(count: str, noun: str) -> str:
    return f"${{{count}}} {noun}${{{count} == 1 ? '' : 's'}}"


def rule_expression(*, condition: bool = False, mode: str | None = None) -> str:
    """The Jira expression of a validator (true, or a string: the error Jira shows) or a condition (true/false).
    `mode` fixes the option (Forge modules, one per option); None reads it from the saved `config` (Connect)."""
    option = f"'{mode}'" if mode else f"config == null ? '{REQUIRED}' : config.mode"
    result = (
        f"p == null ? '{NO_CHECKLIST}'"
        f" : p.version == null || p.pending != 'false' ? '{PENDING}'"
        f" : m == '{ALL}' ? (p.total > 0 && p.done == p.total ? true : p.total == 0 ? e"
        f" : `{_plural('p.total - p.done', 'item')} not done`)"
        f" : m == '{NO_BLOCKED}' ? (p.blocked == 0 ? true : `{_plural('p.blocked', 'item')} blocked`)"
        f" : m == '{SECTION}' ? (s == null ? `The checklist has no section ${{config.sectionName}}.`"
        f" : s == 0 ? true : `{_plural('s', 'required item')} open in ${{config.sectionName}}`)"
        f" : p.complete == 'true' ? true : p.total == 0 ? e : `{_plural('p.mandatoryOpen', 'required item')} open`"
    )
    section = f"m != '{SECTION}' || p == null || p.sections == null ? null : p.sections[config.section]"
    lets = f"let p = issue.properties['{PROPERTY_KEY}']; let m = {option}; let s = {section}; let e = '{EMPTY}';"
    body = "r == true" if condition else "r"
    return f"{lets} let r = {result}; {body}"


def clean_rule_config(data) -> dict:
    """A rule's saved configuration as the config page builds it; anything else falls back to the default."""
    if not isinstance(data, dict) or not isinstance(data.get("mode"), str) or data["mode"] not in MODES:
        return {"mode": REQUIRED}  # a list or object as the mode would not even hash
    config = {"mode": data["mode"]}
    if data["mode"] == SECTION:
        name = data.get("sectionName")
        key = data.get("section")
        if not isinstance(name, str) or not isinstance(key, str) or not re.fullmatch(r"[0-9a-f]{16}", key):
            return {"mode": REQUIRED}
        config.update(section=key, sectionName=name[:200])
    return config
