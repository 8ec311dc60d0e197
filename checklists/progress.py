"""A checklist's progress: functions of its counts, shared by the writes, the reads and the Jira property."""

from collections.abc import Container

from .models import Checklist
from .workflow_rules import rule_counts


def progress_counts(rows, complete: Container[str]) -> dict:
    """rows: (status, is_header, mandatory) for each item. Headers do not count. `complete`: the statuses that count
    as done on this site (done, skipped and the site's own that count as done: checklists/statuses.py)."""
    total = done = mandatory_open = 0
    for status, is_header, mandatory in rows:
        if is_header:
            continue
        total += 1
        if status in complete:
            done += 1
        elif mandatory:
            mandatory_open += 1
    return {"done_count": done, "total_count": total, "mandatory_open_count": mandatory_open}


def progress_json(checklist: Checklist | None) -> dict:
    done = checklist.done_count if checklist else 0
    total = checklist.total_count if checklist else 0
    mandatory_open = checklist.mandatory_open_count if checklist else 0
    return {
        "done": done,
        "total": total,
        "mandatoryOpen": mandatory_open,
        "percent": round(done * 100 / total) if total else 0,
        # Complete when every mandatory item is done or skipped (optional items never block), and there is one.
        "complete": total > 0 and mandatory_open == 0,
    }


def progress_property(checklist: Checklist) -> dict:
    progress = progress_json(checklist)
    # Jira's index has no boolean type: "complete" is the string "true" or "false" for JQL.
    return {
        "done": progress["done"],
        "total": progress["total"],
        "percent": progress["percent"],
        "mandatoryOpen": progress["mandatoryOpen"],
        "complete": "true" if progress["complete"] else "false",
        # For the workflow rules (checklists/workflow): which version this is, not pending, and their counts.
        "version": checklist.version,
        "pending": "false",
        **rule_counts(checklist),
    }
