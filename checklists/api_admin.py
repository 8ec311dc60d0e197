"""
/api/v1 for the template manager (the project settings page and the site admin page): the site's own statuses, and
the manager's first render in one call. Added to the API in checklists/api.py. Who may change what is Jira's answer,
asked on the server (tenants/permissions.py): the site's statuses, like site-wide templates, are for Jira admins.
"""

from django.http import HttpResponse
from ninja import Router, Schema, Status
from pydantic import ConfigDict, StrictBool

from core.exceptions import NotFound
from tenants import permissions

from . import selectors, services
from .jira_facts import issue_type_names
from .models import SiteStatus
from .schemas import (
    Color,
    ConflictOut,
    JiraId,
    ManagerOut,
    StatusKey,
    StatusList,
    StatusName,
    StatusOut,
    ValidationErrorOut,
    responses,
)
from .serializers import template_json
from .statuses import site_statuses_json, status_json
from .validation import STATUS_KEY, clean_jira_id

router = Router()


class _Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class StatusIn(_Strict):
    name: StatusName
    key: StatusKey | None = None
    color: Color | None = None
    countsAsDone: StrictBool | None = None  # noqa: N815 (contract field names)


class StatusPatchIn(_Strict):
    name: StatusName | None = None
    color: Color | None = None
    countsAsDone: StrictBool | None = None  # noqa: N815


def _status_fields(payload: Schema) -> dict:
    data = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    if "countsAsDone" in data:
        data["counts_as_done"] = data.pop("countsAsDone")
    return data


def _require_site_admin(request) -> None:
    permissions.require_jira_admin(
        request.auth, "change the site's statuses", "Only Jira administrators can change the site's statuses."
    )


def _status(request, key: str) -> SiteStatus:
    status = (
        SiteStatus.objects.filter(tenant=request.auth.tenant, key=key).first() if STATUS_KEY.fullmatch(key) else None
    )
    if status is None:
        raise NotFound("no such status on this site")
    return status


@router.get("/statuses", response=responses({200: StatusList}, found=False))
def status_list(request):
    return site_statuses_json(request.auth.tenant)


@router.post("/statuses", response=responses({201: StatusOut}, body=True, found=False))
def status_create(request, payload: StatusIn):
    _require_site_admin(request)
    status = services.status_create(tenant=request.auth.tenant, data=_status_fields(payload))
    return Status(201, status_json(status))


@router.patch("/statuses/{key}", response=responses({200: StatusOut}, body=True))
def status_update(request, key: str, payload: StatusPatchIn):
    status = _status(request, key)  # first: a status this site has not is 404 for anyone (as for templates)
    _require_site_admin(request)
    status = services.status_update(status=status, data=_status_fields(payload))
    return status_json(status)


@router.delete("/statuses/{key}", response=responses({204: None, 409: ConflictOut, 422: ValidationErrorOut}))
def status_delete(request, key: str, moveTo: StatusKey | None = None):  # noqa: N803 (a query parameter's name)
    """A status in use answers 409 with `inUse` (items) and `templates` (templates naming it) unless `moveTo` names
    where they go: one of the five, or another of the site's statuses."""
    status = _status(request, key)
    _require_site_admin(request)
    services.status_delete(
        tenant=request.auth.tenant,
        status=status,
        actor=services.Actor(request.auth.account_id, "status"),
        move_to=moveTo,
    )
    return HttpResponse(status=204)


@router.get("/manager", response=responses({200: ManagerOut, 422: ValidationErrorOut}, found=False))
def manager(request, projectId: JiraId | None = None):  # noqa: N803
    """The template manager's first render: the templates it shows (on a project's page, the site-wide ones and
    that project's), the site's statuses, what this user may change (presentation only: every write is checked
    again), and the site's issue type names."""
    project = clean_jira_id(projectId, "projectId")
    templates = selectors.templates_visible(request.auth, project)
    site = permissions.template_grants(request.auth, "").administer_jira
    own_project = bool(project) and (
        site or permissions.template_grants(request.auth, project).manage_project_templates
    )
    return {
        "templates": [template_json(t) for t in templates],
        "statuses": site_statuses_json(request.auth.tenant),
        "permissions": {"manageSite": site, "manageProject": own_project},
        # People know issue types by name, not by id. Asked as the app, which sees every project's: only for someone
        # who may change templates here, who picks a type for them (Jira shows its admins every type). A user who
        # may only browse sees the ids, as before: the app's answer names types of projects Jira hides from them.
        "issueTypes": issue_type_names(request.auth.tenant) if site or own_project else {},
    }
