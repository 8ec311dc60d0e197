"""Writes the workflow makes: a checklist at issue creation (auto-apply), a clone's copy, a moved issue's ids, and
the post function's changes. All by the app (APP_ACCOUNT_ID as actor), each one `_checklist_write`."""

import logging
import uuid

from core.db import one
from core.exceptions import Conflict, NotFound, ValidationFailed
from tenants.models import Tenant
from tenants.permissions import APP_ACCOUNT_ID
from tenants.types import IssueRef

from .. import textformat
from ..models import Checklist, ChecklistChange, ChecklistItem, Template
from ..selectors import checklist_for
from ..services import checklist_apply_template, checklist_open, template_for_issue
from ..services.items import _sync_entries
from ..services.writes import ITEM_FIELDS, Actor, _checklist_write

logger = logging.getLogger(__name__)

CLONE_ACTOR = Actor(APP_ACCOUNT_ID, "clone")
WORKFLOW_ACTOR = Actor(APP_ACCOUNT_ID, "workflow")
RESET = "reset"  # post function: every item back to to do
APPLY = "apply-template"  # post function: a named template, or the one auto-apply rules choose for the issue
POST_FUNCTION_ACTIONS = (RESET, APPLY)


def checklist_on_create(*, tenant: Tenant, issue: IssueRef) -> Checklist | None:
    """Issue created: the auto-apply template of its project and type, written by the app (the same write the first
    panel view would make, so whichever comes first wins and the other finds it done)."""
    return checklist_open(tenant=tenant, issue=issue)


def _written_by_app_only(checklist: Checklist) -> bool:
    return not ChecklistChange.objects.filter(checklist=checklist).exclude(actor_account_id=APP_ACCOUNT_ID).exists()


def checklist_copy_for_clone(*, tenant: Tenant, issue: IssueRef, source_issue_id: str) -> Checklist | None:
    """A clone gets its source's checklist: statuses reset to to do unless the site keeps them. Replaces a checklist
    the app alone wrote (an auto-applied template, when the clone link arrives after the creation event); never one a
    person has edited. Returns None when the source has no checklist."""
    source = checklist_for(tenant, source_issue_id)
    if source is None or source_issue_id == issue.id:
        return None
    target = checklist_for(tenant, issue.id)
    if target is not None and not _written_by_app_only(target):
        return target
    keep = tenant.clone_keeps_statuses
    entries = [
        textformat.Entry(**{name: getattr(item, name) for name in ITEM_FIELDS if name != "status"})
        if not keep
        else textformat.Entry(**{name: getattr(item, name) for name in ITEM_FIELDS})
        for item in ChecklistItem.objects.filter(checklist=source).order_by("position", "created_at")
    ]

    def mutate(checklist, items):
        return _sync_entries(checklist, items, entries, CLONE_ACTOR)

    try:
        return _checklist_write(
            tenant=tenant,
            issue=issue,
            actor=CLONE_ACTOR,
            expected_version=target.version if target else 0,
            mutate=mutate,
        )
    except Conflict:
        # Someone wrote in between (a person, or the creation event's template): theirs stands.
        return checklist_for(tenant, issue.id)


def checklist_issue_moved(*, tenant: Tenant, issue: IssueRef) -> bool:
    """A move to another project or a new issue type: the checklist stays, with the issue's new key and ids (the
    auto-apply rules of its new project and type do not fire: it already has its checklist). Returns whether any
    id changed."""
    fresh = {"issue_key": issue.key, "project_id": issue.project_id, "issue_type_id": issue.issue_type_id}
    fresh = {name: value for name, value in fresh.items() if value}
    if not fresh:
        return False
    changed = Checklist.objects.filter(tenant=tenant, issue_id=issue.id).exclude(**fresh)
    return changed.update(**fresh) > 0


def clean_post_function_config(data) -> dict:
    """The post function's saved configuration (its config page builds it): refused whole when malformed."""
    if not isinstance(data, dict) or data.get("action") not in POST_FUNCTION_ACTIONS:
        raise ValidationFailed({"action": f"must be one of {list(POST_FUNCTION_ACTIONS)}"})
    config = {"action": data["action"]}
    if data["action"] == APPLY:
        config["mode"] = data.get("mode") if data.get("mode") in ("append", "replace") else "replace"
        template_id = data.get("templateId")
        if template_id not in (None, ""):
            try:
                config["templateId"] = str(uuid.UUID(str(template_id)))
            except ValueError:
                raise ValidationFailed({"templateId": "must be a template id"}) from None
    return config


def post_function_once(tenant: Tenant, execution_key: str) -> uuid.UUID:
    """The id that makes one execution of a post function write at most once (_checklist_write's `once`), however
    often it is delivered: Jira retries a delivery it deems failed, Celery delivers again a task whose worker died."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"herochecklist:post-function:{tenant.id}:{execution_key}")


def checklist_post_function(
    *, tenant: Tenant, issue: IssueRef, config: dict, once: uuid.UUID | None = None
) -> Checklist | None:
    """What a post function configured on a transition does: reset every item to to do, or apply a template (the
    configured one, else the one the auto-apply rules choose for the issue) in `append` or `replace` mode. `once`:
    post_function_once of the execution."""
    config = clean_post_function_config(config)
    if config["action"] == RESET:

        def mutate(checklist, items):
            entries = [
                textformat.Entry(**{name: getattr(i, name) for name in ITEM_FIELDS if name != "status"}) for i in items
            ]
            return _sync_entries(checklist, items, entries, WORKFLOW_ACTOR)

        return _checklist_write(
            tenant=tenant, issue=issue, actor=WORKFLOW_ACTOR, expected_version=None, mutate=mutate, once=once
        )
    if config.get("templateId"):
        template = one(Template.objects.filter(tenant=tenant, id=config["templateId"]))
        if template is None:
            raise NotFound("template not found")
    else:
        template = template_for_issue(tenant, issue)
        if template is None:
            return checklist_for(tenant, issue.id)
    return checklist_apply_template(
        tenant=tenant, issue=issue, actor=WORKFLOW_ACTOR, template=template, mode=config["mode"], once=once
    )
