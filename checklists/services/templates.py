"""Templates: their own writes (create, update, delete), the template an issue gets, applying one to a checklist,
and opening a checklist that a default template fills on first view."""

import logging
import uuid
from typing import Any

from core.db import atomic
from core.exceptions import Conflict, ValidationFailed
from tenants.models import Tenant
from tenants.permissions import APP_ACCOUNT_ID
from tenants.types import IssueRef

from .. import textformat
from ..models import (
    MAX_ITEMS,
    MAX_PROJECT_TEMPLATES,
    MAX_TEMPLATES,
    ChangeAction,
    Checklist,
    ChecklistItem,
    Template,
)
from ..selectors import checklist_for
from ..statuses import SiteStatuses
from ..validation import clean_apply_mode, clean_bool, clean_jira_id, clean_template_name
from .items import _sync_entries
from .writes import ITEM_FIELDS, Actor, _Change, _checklist_write

# The logger keeps the name of the one module these were, so log filters and dashboards see no change.
logger = logging.getLogger(__package__)


def _clean_template(data: dict[str, Any], *, partial: bool, tenant: Tenant | uuid.UUID) -> dict[str, Any]:
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    if "name" in data or not partial:
        try:
            cleaned["name"] = clean_template_name(data.get("name"))
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if "text" in data or not partial:
        text = data.get("text")
        if not isinstance(text, str):
            errors["text"] = "is required, in the checklist text format"
        else:
            try:
                entries = textformat.parse(text, SiteStatuses(tenant))
                if not entries:
                    errors["text"] = "must hold at least one item"
                cleaned["text"] = textformat.serialize(entries)
            except ValidationFailed as exc:
                errors.update({f"text ({where})": why for where, why in exc.errors.items()})
    for name in ("project_id", "issue_type_id"):
        if name in data:
            try:
                cleaned[name] = clean_jira_id(data[name], name)
            except ValidationFailed as exc:
                errors.update(exc.errors)
    if "auto_apply" in data:
        try:
            cleaned["auto_apply"] = clean_bool(data["auto_apply"], "auto_apply")
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _require_room(tenant_id: uuid.UUID, project_id: str, *, moving: bool = False) -> None:
    """Room for one more template on the site, and in its project when it has one. `moving`: a template going to
    another project, which counts for the site already."""
    Tenant.objects.hold(tenant_id)
    templates = Template.objects.filter(tenant_id=tenant_id)
    if not moving and templates.count() >= MAX_TEMPLATES:
        raise ValidationFailed({"templates": f"cannot exceed {MAX_TEMPLATES} on one site"})
    if project_id and templates.filter(project_id=project_id).count() >= MAX_PROJECT_TEMPLATES:
        raise ValidationFailed({"templates": f"cannot exceed {MAX_PROJECT_TEMPLATES} in one project"})


@atomic
def template_create(*, tenant: Tenant, actor: Actor, data: dict[str, Any]) -> Template:
    fields = _clean_template(data, partial=False, tenant=tenant)
    _require_room(tenant.pk, fields.get("project_id", ""))
    return Template.objects.create(tenant=tenant, created_by=actor.account_id, **fields)


@atomic
def template_update(*, template: Template, data: dict[str, Any]) -> Template:
    fields = _clean_template(data, partial=True, tenant=template.tenant_id)
    if fields.get("project_id", template.project_id) != template.project_id:
        _require_room(template.tenant_id, fields["project_id"], moving=True)
    for name, value in fields.items():
        setattr(template, name, value)
    template.save()
    return template


def template_delete(*, template: Template) -> None:
    template.delete()


def _fits(template: Template, project_id: str, issue_type_id: str, *, strict: bool = False) -> bool:
    """Whether a template's scope admits an issue. strict: an unknown project or type admits only unscoped ones."""
    return all(
        not scope or scope == value or (not value and not strict)
        for scope, value in ((template.project_id, project_id), (template.issue_type_id, issue_type_id))
    )


def template_fits_issue(template: Template, issue: IssueRef) -> bool:
    """Whether this template may be applied to this issue (checklist_apply_template's scope rule, before the write):
    what a lookup by name counts as a candidate, so a template no one could apply here never makes a name ambiguous."""
    return _fits(template, issue.project_id, issue.issue_type_id)


def template_for_issue(tenant: Tenant, issue: IssueRef) -> Template | None:
    """The auto-apply template that fits best: project and type, then project, then type, then global."""
    best, best_score = None, -1
    for template in Template.objects.filter(tenant=tenant, auto_apply=True).order_by("-created_at"):
        if not _fits(template, issue.project_id, issue.issue_type_id, strict=True):
            continue
        score = 2 * bool(template.project_id) + bool(template.issue_type_id)
        if score > best_score:
            best, best_score = template, score
    return best


def checklist_apply_template(
    *,
    tenant: Tenant,
    issue: IssueRef,
    actor: Actor,
    template: Template,
    mode: str,
    expected_version: int | None = None,
    once: uuid.UUID | None = None,
) -> Checklist | None:
    """`once`: see _checklist_write (a post function delivered twice applies its template once)."""
    mode = clean_apply_mode(mode)
    entries = textformat.parse(template.text, SiteStatuses(tenant))
    template_actor = Actor(actor.account_id, "template")

    def mutate(checklist: Checklist, items: list[ChecklistItem]) -> list[_Change]:
        # A project's (or issue type's) template is for that project's issues only; where the credential does not
        # say the issue's project, the one stored with the checklist does (unknown to both: nothing to compare).
        if not _fits(
            template, issue.project_id or checklist.project_id, issue.issue_type_id or checklist.issue_type_id
        ):
            raise ValidationFailed({"templateId": "is a template of another project or issue type"})
        keep = items if mode == "append" else []
        if len(keep) + len(entries) > MAX_ITEMS:
            raise ValidationFailed({"templateId": f"would take the checklist over {MAX_ITEMS} items"})
        current = [textformat.Entry(**{n: getattr(i, n) for n in ITEM_FIELDS}) for i in keep]
        changes = _sync_entries(checklist, items, current + entries, template_actor)
        if changes:
            changes.append(
                _Change(
                    ChangeAction.TEMPLATE_APPLIED,
                    None,
                    {"template": {"after": str(template.id)}, "mode": {"after": mode}},
                )
            )
        return changes

    return _checklist_write(
        tenant=tenant, issue=issue, actor=template_actor, expected_version=expected_version, mutate=mutate, once=once
    )


APP_ACTOR = Actor(APP_ACCOUNT_ID, "template")


def _best_fit_unknown(tenant: Tenant, issue: IssueRef) -> bool:
    """Whether an auto-apply template scoped by what `issue` does not say (its project or type: a credential Jira bound
    to no issue names only its id) could fit it better than the one template_for_issue found among the rest. Applying
    that one then would be for good: the issue has its checklist, and the better fit never comes. Not applied: the
    first read that knows the issue (its panel, its creation event) applies the right one."""
    if issue.project_id and issue.issue_type_id:
        return False
    scopes = Template.objects.filter(tenant=tenant, auto_apply=True).values_list("project_id", "issue_type_id")
    return any((project and not issue.project_id) or (kind and not issue.issue_type_id) for project, kind in scopes)


def checklist_open(*, tenant: Tenant, issue: IssueRef, apply_template: bool = True) -> Checklist | None:
    """The checklist of an issue, applying the matching auto-apply template the first time it is opened. That write
    is the app's own (APP_ACTOR), whoever opened the panel: a viewer who may only browse causes it but is not its
    author, and needs no edit right for it. apply_template=False (tenants.permissions.may_auto_apply): only read."""
    checklist = checklist_for(tenant, issue.id)
    if checklist is not None or not apply_template:
        return checklist
    template = template_for_issue(tenant, issue)
    if template is None or _best_fit_unknown(tenant, issue):
        return None  # nothing to write: an issue without a checklist reads as empty, version 0
    try:
        return checklist_apply_template(
            tenant=tenant, issue=issue, actor=APP_ACTOR, template=template, mode="append", expected_version=0
        )
    except Conflict:
        # Someone else opened it at the same moment and applied the template first.
        return Checklist.objects.filter(tenant=tenant, issue_id=issue.id).first()
    except ValidationFailed:
        # A template stored before today's input rules (validation.py) that they refuse: opening the issue must not
        # fail for it; the template is simply not applied until someone fixes it.
        logger.warning("auto-apply template refused by the input rules", extra={"template_id": str(template.id)})
        return None
