"""
The calls Jira Automation rules ("Send web request"), scripts and AI agents need, added to /api/v1: they name an issue
by its key (what Automation's smart values give: {{issue.key}}), an item by its text or id, a template by its name.

The key is resolved to the issue's id through Jira, as the app (tenants.jira.JiraClient): an unknown key is 404, Jira
down is 503. Then the same scoping, permission checks, services and validation as every other write (api.py).
"""

import itertools
import uuid

from ninja import Router, Schema
from pydantic import ConfigDict

from core import context
from core.exceptions import Conflict, NotFound, ValidationFailed
from tenants import permissions
from tenants.permissions import PermissionDenied
from tenants.types import IssueRef

from . import selectors, serializers, services
from .api import _checklist_response, api
from .issues import JiraUnavailable, resolve_issue
from .models import Checklist, ChecklistItem, Template
from .schemas import (
    ApplyMode,
    ChecklistOut,
    ChecklistText,
    IssueKey,
    ItemOut,
    ItemRef,
    ItemStatusText,
    TemplateName,
    responses,
)
from .services.append import checklist_append_text
from .validation import clean_apply_mode, clean_item_fields, clean_template_name

router = Router(tags=["automation"])
MAX_ITEM_REF = 2000  # an item's id or its whole text


@api.exception_handler(JiraUnavailable)
def _jira_unavailable(request, exc):
    body = {"error": "jira_unavailable", "detail": "Jira did not answer; try again shortly."}
    response = api.create_response(request, body, status=503)
    response["Retry-After"] = exc.retry_after
    return response


def keyed_issue(auth, issue_key: str, *, write: bool) -> IssueRef:
    """The issue of a key, checked like every other call: a credential bound to one issue reaches only that issue
    (403); reading needs Browse projects, writing Edit issues (a site token: its scope).

    The key is looked up as the app, which sees every issue, so no answer may depend on whether a key the caller
    cannot see exists: a bound credential gets the same 403 for any other key, existing or not, and an unbound one
    the same 404 for a key that does not exist and for an issue it may not browse (Jira answers so too)."""
    if auth.issue is not None:
        try:
            issue = resolve_issue(auth.tenant, issue_key)
        except NotFound:
            issue = None
        if issue is None or auth.issue.id != issue.id:
            raise PermissionDenied("This credential is bound to another issue.")
    else:
        issue = resolve_issue(auth.tenant, issue_key)
        try:
            permissions.require_browse(auth, issue.id)
        except PermissionDenied:
            raise NotFound("no such issue") from None
    if write:
        permissions.require_edit(auth, issue.id)
    context.issue_key.set(issue.key)
    return issue


# --- what each call does, shared by the routes below and the MCP tools (checklists/mcp.py) -----------------------


def checklist_read(auth, issue_key: str) -> tuple[IssueRef, Checklist | None]:
    issue = keyed_issue(auth, issue_key, write=False)
    return issue, services.checklist_open(
        tenant=auth.tenant, issue=issue, apply_template=permissions.may_auto_apply(auth)
    )


def items_add(auth, issue_key: str, text) -> tuple[IssueRef, Checklist | None]:
    issue = keyed_issue(auth, issue_key, write=True)
    actor = services.Actor(account_id=auth.account_id)
    return issue, checklist_append_text(tenant=auth.tenant, issue=issue, actor=actor, text=text)


def item_set_status(auth, issue_key: str, ref, status) -> tuple[Checklist | None, ChecklistItem]:
    data = clean_item_fields({"status": status}, partial=True)  # before the lookup: garbage is 422, never 404
    issue = keyed_issue(auth, issue_key, write=True)
    item = _find_item(selectors.checklist_for(auth.tenant, issue.id), ref)
    actor = services.Actor(account_id=auth.account_id)
    return services.item_update(tenant=auth.tenant, issue=issue, actor=actor, item_id=item.id, data=data)


def template_apply_by_name(auth, issue_key: str, name, mode) -> tuple[IssueRef, Checklist | None]:
    name, mode = clean_template_name(name, "template"), clean_apply_mode(mode)
    issue = keyed_issue(auth, issue_key, write=True)
    # Only those the caller may read (a project's template it may not see is not there for it, not even as a clash)
    # and that fit the issue: another project's template could never be applied here, so it must not make the name
    # ambiguous. Any user may administer a team-managed project of their own, and a "Release" made there answered
    # 409 to every rule on the site that applies "Release".
    named = Template.objects.filter(tenant=auth.tenant, name=name).order_by("created_at")
    candidates = (
        t
        for t in named
        if services.template_fits_issue(t, issue) and permissions.may_read_templates(auth, t.project_id)
    )
    templates = list(itertools.islice(candidates, 2))
    if not templates:
        raise NotFound("no template of this name on this site")
    if len(templates) > 1:
        raise Conflict("Several templates have this name; rename one.", status=409)
    actor = services.Actor(account_id=auth.account_id)
    checklist = services.checklist_apply_template(
        tenant=auth.tenant, issue=issue, actor=actor, template=templates[0], mode=mode
    )
    return issue, checklist


def _find_item(checklist, ref) -> ChecklistItem:
    """The one item `ref` names: its id, else its exact text. Two items with that text: 409, use the id."""
    if not isinstance(ref, str) or not ref.strip() or len(ref) > MAX_ITEM_REF:
        raise ValidationFailed({"item": f"must be an item id or an item's text (at most {MAX_ITEM_REF} characters)"})
    ref = ref.strip()
    items = [i for i in selectors.checklist_items(checklist) if not i.is_header]
    try:
        wanted = uuid.UUID(ref)
    except ValueError:
        wanted = None
    found = [i for i in items if i.id == wanted] or [i for i in items if i.text == ref]
    if not found:
        raise NotFound("no item with this id or text")
    if len(found) > 1:
        raise Conflict("Several items have this text; name the item by its id.", status=409)
    return found[0]


class _Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class AddItemsIn(_Strict):
    text: ChecklistText  # one item per line, in the text format ("- [ ] step", or a plain line)


class SetStatusIn(_Strict):
    item: ItemRef
    status: ItemStatusText


class ApplyByNameIn(_Strict):
    template: TemplateName
    mode: ApplyMode = "append"


KEY_PATH = "/automation/issues/{issue_key}"


@router.post(f"{KEY_PATH}/items", response=responses({200: ChecklistOut}, write=True))
def add_items(request, issue_key: IssueKey, payload: AddItemsIn):
    """Append items from text (the text format, one item per line; a plain line is a to-do item)."""
    issue, checklist = items_add(request.auth, issue_key, payload.text)
    return _checklist_response(request, checklist, issue)


@router.post(f"{KEY_PATH}/items/status", response=responses({200: ItemOut}, write=True))
def set_status(request, issue_key: IssueKey, payload: SetStatusIn):
    """Set one item's status; the item is named by its id or by its exact text."""
    checklist, item = item_set_status(request.auth, issue_key, payload.item, payload.status)
    response = api.create_response(request, serializers.item_json(item), status=200)
    response["ETag"] = f'"{checklist.version if checklist else 0}"'
    return response


@router.post(f"{KEY_PATH}/apply-template", response=responses({200: ChecklistOut}, write=True))
def apply_template_by_name(request, issue_key: IssueKey, payload: ApplyByNameIn):
    """Apply this site's template of that name (exactly); two templates of the same name: 409."""
    issue, checklist = template_apply_by_name(request.auth, issue_key, payload.template, payload.mode)
    return _checklist_response(request, checklist, issue)
