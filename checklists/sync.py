"""The progress summary in the Jira issue property `herochecklist-progress`: counts only, nothing personal."""

import logging

from core import context
from tenants.descriptor import PROGRESS_PROPERTY
from tenants.jira import JiraClient

from .models import Checklist
from .progress import progress_json

logger = logging.getLogger(__name__)


def progress_property(checklist: Checklist) -> dict:
    progress = progress_json(checklist)
    # Jira's index has no boolean type: "complete" is the string "true" or "false" for JQL.
    return {
        "done": progress["done"],
        "total": progress["total"],
        "percent": progress["percent"],
        "mandatoryOpen": progress["mandatoryOpen"],
        "complete": "true" if progress["complete"] else "false",
    }


def checklist_progress_push(*, checklist_id) -> bool:
    """Write the current progress to Jira unless that version is already there. Returns whether it wrote."""
    checklist = Checklist.objects.select_related("tenant").filter(id=checklist_id).first()
    if checklist is None or not checklist.tenant.is_active:
        return False
    if checklist.property_synced_version >= checklist.version:
        return False
    context.client_key.set(checklist.tenant.client_key)
    context.issue_key.set(checklist.issue_key)
    version = checklist.version
    JiraClient(checklist.tenant).set_issue_property(checklist.issue_id, PROGRESS_PROPERTY, progress_property(checklist))
    # Only move forward: a slower, older push must not mark a newer version as synced.
    Checklist.objects.filter(id=checklist.id, property_synced_version__lt=version).update(
        property_synced_version=version
    )
    logger.info("progress property written", extra={"version": version})
    return True
