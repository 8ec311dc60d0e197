"""
/api/v1 as ../shared/api-contract.md fixes it. Views are thin: authenticate, scope to the credential's tenant
and issue, call a service or selector, shape the JSON. Errors are JSON that names each bad field.
"""

import math
import re
import time
import uuid
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError
from ninja.parser import Parser
from ninja.throttling import BaseThrottle
from pydantic import BaseModel, ConfigDict, StrictBool

from core import context
from core.body import declares_utf8
from core.counters import window_take
from core.db import CommitUnknown
from core.exceptions import Conflict, NotFound, ValidationFailed
from core.fastjson import Encoded, OrjsonRenderer
from core.identifiers import is_jira_id
from core.jsonbody import BadJson, loads
from core.middleware import api_exception_response, error_code
from tenants import permissions
from tenants.auth import AuthContext, AuthError, IssueRef, authenticate_api_request
from tenants.permissions import PermissionDenied, PermissionUnknown

from . import live, selectors, serializers, services
from .api_admin import router as admin_router
from .callers import rate_subject
from .issues import issue_for_template
from .models import Checklist, ChecklistItem, Template
from .preconditions import ItemTag, parse_if_match
from .schemas import (
    IF_NONE_MATCH,
    TEXT_BODY,
    TEXT_RESPONSE,
    AccountId,
    ApplyMode,
    ChecklistOut,
    ChecklistText,
    ContractAPI,
    DueDate,
    History,
    HistoryLimit,
    IssueId,
    ItemId,
    ItemOut,
    ItemStatusText,
    ItemText,
    JiraId,
    PathItemId,
    Position,
    TemplateList,
    TemplateName,
    TemplateOut,
    ValidationErrorOut,
    if_match,
    responses,
)
from .serializers import CAMEL, SNAKE, ItemRow
from .statuses import panel_statuses_json
from .validation import clean_jira_id
from .workflow.api import router as workflow_router

JSON_TYPE = re.compile(r"^application/(?:[a-z0-9.+-]+\+)?json$")


class ApiRequest(HttpRequest):
    """A request as the API's views see it: ninja sets `auth` to what ApiAuth returned (never None past it)."""

    auth: AuthContext
    auth_failure: str


class ApiAuth:
    """Any one credential of the contract; None (401) on any failure, without saying why."""

    def __call__(self, request: ApiRequest) -> AuthContext | None:
        try:
            return authenticate_api_request(request)
        except AuthError as exc:
            request.auth_failure = str(exc)
            return None


def throttled_response(request: HttpRequest, wait: float | None) -> HttpResponse:
    """The API's 429 (its JSON body), with Retry-After when the wait is known."""
    response = api.on_exception(request, Throttled(wait=wait))  # type: ignore[arg-type]
    if wait is not None:
        response["Retry-After"] = str(math.ceil(wait))
    return response


class AccountThrottle(BaseThrottle):
    """Per site and user, per clock minute, shared by every web node through the cache. A counter (one round trip,
    one per batch for busy callers: core.counters.window_take) rather than ninja's re-pickled request-history list."""

    def allow_request(self, request: HttpRequest) -> bool:
        auth = getattr(request, "auth", None)
        if not isinstance(auth, AuthContext):
            return True
        minute = int(time.time() // 60)
        self.reset_in = 60 - time.time() % 60
        key = f"throttle:{auth.tenant.id}:{rate_subject(request, auth)}:{minute}"
        return window_take(key, limit=settings.API_RATE_LIMIT_PER_MINUTE, ttl_seconds=120)  # fails open

    def wait(self) -> float:
        return getattr(self, "reset_in", 60.0)


class _NotJson(Exception):
    """A JSON endpoint got a body of another type."""


class _NotUtf8(Exception):
    """A body that declares a charset other than UTF-8 (core.body.declares_utf8)."""


NOT_UTF8 = {"Content-Type": "the charset must be utf-8"}


class JsonOnlyParser(Parser):
    """Bodies of JSON endpoints must say they are JSON (415 otherwise), not merely parse as JSON, and in UTF-8 if they
    name a charset (415); they are read by the project's one parser (core.jsonbody: 400 naming `body` when they are
    not JSON)."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        header = request.headers.get("Content-Type", "")
        content_type = header.split(";")[0].strip().lower()
        if not JSON_TYPE.match(content_type):
            raise _NotJson(content_type)
        if not declares_utf8(header):
            raise _NotUtf8()
        return cast(dict[str, Any], loads(request.body))  # any JSON value: the schema refuses a non-object


API_AUTH = ApiAuth()  # every route's credential check (checklists/read_lane.py runs it for the read too)
api = ContractAPI(
    title="HeroChecklist API",
    parser=JsonOnlyParser(),
    renderer=OrjsonRenderer(),
    version="1",
    urls_namespace="api-v1",
    auth=API_AUTH,
    throttle=[AccountThrottle()],
    docs_url=None,
)
router = Router()


def _error(request: HttpRequest, status: int, body: dict[str, Any], **headers: str) -> HttpResponse:
    response = api.create_response(request, body, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    # JSON whatever DEBUG says (ninja's own handler answers a plain-text traceback in DEBUG): 503 when the database
    # is down, full or read-only, else 500.
    return api_exception_response(request, exc)


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: Exception) -> HttpResponse:
    import logging

    logging.getLogger(__name__).warning("authentication failed: %s", getattr(request, "auth_failure", "no credential"))
    return _error(request, 401, {"error": "unauthorized", "detail": "Authentication failed."})


@api.exception_handler(ValidationFailed)
def _invalid(request: HttpRequest, exc: ValidationFailed) -> HttpResponse:
    return _error(request, exc.status, exc.body(names=CAMEL))


_SHOULD = re.compile(r"^(?:Input|String|Value|List|Dictionary|Object) should ")


@api.exception_handler(ValidationError)
def _schema_invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    fields = {}
    for error in exc.errors:
        loc = [str(p) for p in error.get("loc", []) if p not in ("body", "payload")]
        name = loc[-1] if loc else "body"
        # pydantic's "Input should be a valid string" as a predicate of the field, like every message of ours
        # ("text": "must be ..."), so a client that says "<field> <message>" reads a sentence.
        message = _SHOULD.sub("must ", error.get("msg", "is invalid"), count=1)
        if error.get("type") == "extra_forbidden":
            message = "is not a known field"
        elif error.get("type") == "missing":
            message = "is required"
        fields[name] = message
    return _invalid(request, ValidationFailed(fields))


@api.exception_handler(Conflict)
def _conflict(request: HttpRequest, exc: Conflict) -> HttpResponse:
    body = {"error": "precondition_failed" if exc.status == 412 else "conflict", "detail": exc.message}
    body.update(exc.details)
    return _error(request, exc.status, body, **({"Retry-After": exc.retry_after} if exc.retry_after else {}))


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    if not isinstance(exc, PermissionUnknown):
        return _error(request, 403, {"error": "forbidden", "detail": str(exc)})
    # Jira was not answering: still refused, but a client can tell an outage from a missing right and retry.
    response = _error(request, 403, {"error": "forbidden", "detail": str(exc), "jiraAnswered": False})
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(NotFound)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(request, 404, {"error": "not_found"})


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(request, 413, {"error": "too_large", "detail": "The request body is over the limit."})


@api.exception_handler(services.WriteOutcomeUnknown)
def _outcome_unknown(request: HttpRequest, exc: object, *, what: str = "the checklist") -> HttpResponse:
    detail = f"The database did not confirm whether the change was saved. Reload {what} before retrying."
    return _error(request, 503, {"error": "outcome_unknown", "detail": detail}, **{"Retry-After": "5"})


@api.exception_handler(CommitUnknown)
def _other_outcome_unknown(request: HttpRequest, exc: object) -> HttpResponse:
    # Any other write whose commit reply was lost (templates, statuses, tokens): the same answer, never a 500.
    return _outcome_unknown(request, exc, what="the page")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, _NotJson):  # ninja wraps every parser error as its 400
        return _error(
            request, 415, {"error": "validation_failed", "fields": {"Content-Type": "must be application/json"}}
        )
    if isinstance(exc.__cause__, _NotUtf8):
        return _error(request, 415, {"error": "validation_failed", "fields": NOT_UTF8})
    if isinstance(exc.__cause__, BadJson):
        return _invalid(request, exc.__cause__)
    if exc.status_code == 429:
        return _error(request, 429, {"error": "rate_limited", "detail": "Too many requests; slow down."})
    # Any other HttpError (ours, or ninja's own) with the code its status has everywhere else (403: forbidden).
    return _error(request, exc.status_code, {"error": error_code(exc.status_code), "detail": str(exc)})


# --- scoping -----------------------------------------------------------------------------------------------------


def _issue(request: ApiRequest, issue_id: str) -> IssueRef:
    """The issue this request may touch: another issue than the credential's is 403."""
    if not is_jira_id(issue_id):
        raise NotFound("not an issue id")
    auth: AuthContext = request.auth
    if auth.issue is not None:
        if auth.issue.id != issue_id:
            raise HttpError(403, "This credential is bound to another issue.")
        issue = auth.issue
    else:
        issue = IssueRef(id=issue_id)
        # Jira did not bind this credential to the issue, so nothing says its user can see it: Jira is asked.
        permissions.require_browse(auth, issue.id)
    context.issue_key.set(issue.key)
    return issue


def _writable_issue(request: ApiRequest, issue_id: str) -> IssueRef:
    """_issue, for a write: the user must hold Jira's Edit issues on it (asked, or cached for at most 5 minutes, on
    every request; a token minted earlier grants nothing by itself). Otherwise 403 and nothing is written."""
    issue = _issue(request, issue_id)
    permissions.require_edit(request.auth, issue.id)
    return issue


def _require_edit_of_found(request: ApiRequest, issue: IssueRef, found: Callable[[], bool]) -> None:
    """require_edit for a write to one thing (an item, a template to apply). When the edit is refused and this site
    holds no such thing (another site's id, say), the answer is 404, not 403: the refusal would say that it exists.
    `found` is asked only then, so an allowed write costs no extra query."""
    try:
        permissions.require_edit(request.auth, issue.id)
    except PermissionDenied:
        if not found():
            raise NotFound("no such thing for this site") from None
        raise


def _writable_item(request: ApiRequest, issue_id: str, item_id: str) -> tuple[IssueRef, uuid.UUID]:
    """_writable_issue for a write to one item (_require_edit_of_found: an item not on this issue is 404)."""
    issue, pk = _issue(request, issue_id), _item_id(item_id)

    def found() -> bool:
        checklist = selectors.checklist_for(request.auth.tenant, issue.id)
        return checklist is not None and ChecklistItem.objects.filter(checklist=checklist, id=pk).exists()

    _require_edit_of_found(request, issue, found)
    return issue, pk


def _checklist_open(request: ApiRequest, issue: IssueRef) -> Checklist | None:
    """The issue's checklist as a read finds it: with its auto-apply template written the first time, unless the
    credential may not cause that write (permissions.may_auto_apply)."""
    auth = request.auth
    return services.checklist_open(tenant=auth.tenant, issue=issue, apply_template=permissions.may_auto_apply(auth))


def _actor(request: ApiRequest) -> services.Actor:
    return services.Actor(account_id=request.auth.account_id)


def _expected_version(request: HttpRequest) -> int | None:
    """The contract's If-Match: the checklist version (checklists/preconditions.py)."""
    expected = parse_if_match(request.headers.get("If-Match"))
    if isinstance(expected, ItemTag):
        raise ValidationFailed({"If-Match": "an item's ETag fits only a PATCH or DELETE of that item"}, status=400)
    return expected


def _item_preconditions(request: HttpRequest) -> dict[str, Any]:
    """A write of one item may be conditional on the checklist version or on that item's ETag."""
    expected = parse_if_match(request.headers.get("If-Match"))
    if isinstance(expected, ItemTag):
        return {"expected_item": expected}
    return {"expected_version": expected}


def _with_version(response: HttpResponse, version: int) -> HttpResponse:
    response["ETag"] = f'"{version}"'
    return response


def _item_id(item_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(item_id)
    except ValueError:
        raise NotFound("not an item id") from None


def _checklist_response(
    request: HttpRequest,
    checklist: Checklist | None,
    issue: IssueRef,
    status: int = 200,
    item_rows: list[ItemRow] | Encoded | None = None,
    **extra: Any,
) -> HttpResponse:
    rows = selectors.checklist_item_rows(checklist) if item_rows is None else item_rows
    data = {**serializers.checklist_json(checklist, issue, rows), **extra}
    return _with_version(api.create_response(request, data, status=status), data["version"])


# --- schemas (strict: a string is not a boolean, unknown fields are errors) --------------------------------------


class _Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class ItemCreateIn(_Strict):
    text: ItemText
    status: ItemStatusText | None = None
    isHeader: StrictBool | None = None  # noqa: N815 (contract field names)
    mandatory: StrictBool | None = None
    assigneeAccountId: AccountId | None = None  # noqa: N815
    dueDate: DueDate | None = None  # noqa: N815
    position: Position | None = None
    visibleToCustomer: StrictBool | None = None  # noqa: N815 (shown on the service portal)


class ItemPatchIn(_Strict):
    text: ItemText | None = None
    status: ItemStatusText | None = None
    isHeader: StrictBool | None = None  # noqa: N815
    mandatory: StrictBool | None = None
    assigneeAccountId: AccountId | None = None  # noqa: N815
    dueDate: DueDate | None = None  # noqa: N815
    position: Position | None = None
    visibleToCustomer: StrictBool | None = None  # noqa: N815


class OrderIn(_Strict):
    itemIds: list[ItemId]  # noqa: N815


class TemplateIn(_Strict):
    name: TemplateName
    text: ChecklistText
    projectId: JiraId | None = None  # noqa: N815
    issueTypeId: JiraId | None = None  # noqa: N815
    autoApply: StrictBool | None = None  # noqa: N815


class TemplatePatchIn(_Strict):
    name: TemplateName | None = None
    text: ChecklistText | None = None
    projectId: JiraId | None = None  # noqa: N815
    issueTypeId: JiraId | None = None  # noqa: N815
    autoApply: StrictBool | None = None  # noqa: N815


class ApplyTemplateIn(_Strict):
    templateId: ItemId  # noqa: N815
    mode: ApplyMode = "append"


def _fields(payload: BaseModel, *, nullable: tuple[str, ...] = ("assigneeAccountId", "dueDate")) -> dict[str, Any]:
    data = payload.model_dump(exclude_unset=True)
    # null means "clear" only where clearing makes sense; elsewhere it is the same as leaving the field out.
    data = {k: v for k, v in data.items() if v is not None or k in nullable}
    return {SNAKE.get(k, k): v for k, v in data.items()}


# --- checklist endpoints -----------------------------------------------------------------------------------------


def checklist_read_throttles() -> list[BaseThrottle]:
    """The read's throttles: polls (If-None-Match) against their own budget, other reads against the shared one."""
    return [live.PollAwareThrottle(AccountThrottle())]


# Requests reach this view through checklists/read_lane.py (the same checks without ninja's dispatch); the route is
# declared here for the OpenAPI document and the other methods.
@router.get(
    "/issues/{issue_id}/checklist",
    response=responses({200: ChecklistOut, 304: None}),
    openapi_extra=IF_NONE_MATCH,
    throttle=checklist_read_throttles(),
)
def checklist_get(request: ApiRequest, issue_id: IssueId) -> HttpResponse:
    issue = _issue(request, issue_id)
    unchanged = live.not_modified(request, request.auth.tenant, issue)  # an open panel's poll (live.py)
    if unchanged:
        return unchanged
    if "If-None-Match" in request.headers:
        # A poll answered in full costs what a read costs: charged to the shared budget too, so a made-up ETag buys
        # no full reads beyond it (the poll budget is for the cheap 304s).
        shared = AccountThrottle()
        if not shared.allow_request(request):
            return throttled_response(request, shared.wait())
    # One round trip for an existing checklist; only a missing one goes on to auto-apply a template.
    checklist, items = selectors.checklist_with_items_json(request.auth.tenant, issue.id)
    item_rows: Encoded | None = items
    if checklist is None:
        checklist, item_rows = _checklist_open(request, issue), None
    # What this user may do here, so the panel can show itself read-only; every write is checked again regardless.
    grants = permissions.issue_grants(request.auth, issue.id)
    allowed = {"edit": grants.edit_issue, "manageTemplates": grants.manage_project_templates}
    statuses = panel_statuses_json(request.auth.tenant)  # the site's own, for the panel's first render
    return live.private(
        _checklist_response(request, checklist, issue, item_rows=item_rows, permissions=allowed, statuses=statuses)
    )


@router.post(
    "/issues/{issue_id}/checklist/items", response=responses({201: ItemOut}, write=True), openapi_extra=if_match()
)
def item_create(request: ApiRequest, issue_id: IssueId, payload: ItemCreateIn) -> HttpResponse:
    issue = _writable_issue(request, issue_id)
    checklist, item = services.item_create(
        tenant=request.auth.tenant,
        issue=issue,
        actor=_actor(request),
        data=_fields(payload),
        expected_version=_expected_version(request),
    )
    return _with_version(api.create_response(request, serializers.item_json(item), status=201), checklist.version)


@router.patch(
    "/issues/{issue_id}/checklist/items/{item_id}",
    response=responses({200: ItemOut}, write=True),
    openapi_extra=if_match(item=True),
)
def item_update(request: ApiRequest, issue_id: IssueId, item_id: PathItemId, payload: ItemPatchIn) -> HttpResponse:
    return item_update_fields(request, issue_id, item_id, _fields(payload))


def item_update_fields(request: ApiRequest, issue_id: str, item_id: str, data: dict[str, Any]) -> HttpResponse:
    """item_update with its body already read as the service's fields (_fields): checklists/write_lane.py comes in
    here from its own validated body, without building an ItemPatchIn to read the same fields back out of it."""
    issue, pk = _writable_item(request, issue_id, item_id)
    checklist, item = services.item_update(
        tenant=request.auth.tenant,
        issue=issue,
        actor=_actor(request),
        item_id=pk,
        data=data,
        **_item_preconditions(request),
    )
    return _with_version(api.create_response(request, serializers.item_json(item), status=200), checklist.version)


@router.delete(
    "/issues/{issue_id}/checklist/items/{item_id}",
    response=responses({204: None}, write=True),
    openapi_extra=if_match(item=True),
)
def item_delete(request: ApiRequest, issue_id: IssueId, item_id: PathItemId) -> HttpResponse:
    issue, pk = _writable_item(request, issue_id, item_id)
    checklist = services.item_delete(
        tenant=request.auth.tenant,
        issue=issue,
        actor=_actor(request),
        item_id=pk,
        **_item_preconditions(request),
    )
    return _with_version(HttpResponse(status=204), checklist.version)


@router.put(
    "/issues/{issue_id}/checklist/order", response=responses({200: ChecklistOut}, write=True), openapi_extra=if_match()
)
def checklist_reorder(request: ApiRequest, issue_id: IssueId, payload: OrderIn) -> HttpResponse:
    issue = _writable_issue(request, issue_id)
    checklist = services.checklist_reorder(
        tenant=request.auth.tenant,
        issue=issue,
        actor=_actor(request),
        item_ids=payload.itemIds,
        expected_version=_expected_version(request),
    )
    return _checklist_response(request, checklist, issue)


@router.get("/issues/{issue_id}/checklist/text", response=responses({200: None}), openapi_extra=TEXT_RESPONSE)
def checklist_text_get(request: ApiRequest, issue_id: IssueId) -> HttpResponse:
    # ?progress=reset: every item to do and without its due date, as a template saved from this checklist wants.
    progress = request.GET.get("progress", "keep")
    if progress not in ("keep", "reset"):
        raise ValidationFailed({"progress": "must be keep or reset"}, status=400)
    issue = _issue(request, issue_id)
    checklist = _checklist_open(request, issue)
    text = serializers.checklist_text(selectors.checklist_items(checklist), keep_progress=progress == "keep")
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    return _with_version(response, checklist.version if checklist else 0)


@router.put(
    "/issues/{issue_id}/checklist/text",
    response=responses({200: ChecklistOut}, write=True),
    openapi_extra=if_match(TEXT_BODY),
)
def checklist_text_put(request: ApiRequest, issue_id: IssueId) -> HttpResponse:
    issue = _writable_issue(request, issue_id)
    header = request.headers.get("Content-Type", "")
    if header.split(";")[0].strip().lower() not in ("text/plain", ""):
        raise ValidationFailed({"Content-Type": "send the checklist as text/plain"}, status=415)
    if not declares_utf8(header):
        raise ValidationFailed(NOT_UTF8, status=415)
    try:
        text = request.body.decode("utf-8")  # the whole body as sent, chunked or not (core/body.py)
    except UnicodeDecodeError:
        raise ValidationFailed({"body": "must be UTF-8 text"}, status=400) from None
    checklist = services.checklist_replace_text(
        tenant=request.auth.tenant,
        issue=issue,
        actor=_actor(request),
        text=text,
        expected_version=_expected_version(request),
    )
    return _checklist_response(request, checklist, issue)


@router.post(
    "/issues/{issue_id}/checklist/apply-template",
    response=responses({200: ChecklistOut}, write=True),
    openapi_extra=if_match(),
)
def checklist_apply_template(request: ApiRequest, issue_id: IssueId, payload: ApplyTemplateIn) -> HttpResponse:
    issue = _issue(request, issue_id)
    template_id = _template_id(payload.templateId)
    _require_edit_of_found(request, issue, lambda: _template_shown(request, template_id))
    template = _template(request, template_id, field="templateId")
    # A project's template is for that project's issues only: the issue's project, where the credential names none.
    issue = issue_for_template(request.auth.tenant, issue, template)
    checklist = services.checklist_apply_template(
        tenant=request.auth.tenant,
        issue=issue,
        actor=_actor(request),
        template=template,
        mode=payload.mode,
        expected_version=_expected_version(request),
    )
    return _checklist_response(request, checklist, issue)


@router.get(
    "/issues/{issue_id}/checklist/history",
    response=responses({200: History, 400: ValidationErrorOut, 422: ValidationErrorOut}),
)
def checklist_history(request: ApiRequest, issue_id: IssueId, limit: HistoryLimit = 100) -> list[dict[str, Any]]:
    issue = _issue(request, issue_id)
    if not 1 <= limit <= selectors.MAX_HISTORY:
        raise ValidationFailed({"limit": f"must be from 1 to {selectors.MAX_HISTORY}"}, status=400)
    checklist = selectors.checklist_for(request.auth.tenant, issue.id)
    return serializers.history_json(selectors.checklist_changes(checklist, limit))


# --- templates ---------------------------------------------------------------------------------------------------


def _template_id(template_id: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(template_id))
    except ValueError:
        raise NotFound("not a template id") from None


def _template_shown(request: ApiRequest, template_id: uuid.UUID) -> bool:
    """Whether a refusal of a write naming this template may say it exists: a site-wide one of this site, or a
    project's that the caller may read (one of a project they cannot see is as missing as no template at all)."""
    template = Template.objects.filter(tenant=request.auth.tenant, id=template_id).only("project_id").first()
    return template is not None and (
        not template.project_id or permissions.may_read_templates(request.auth, template.project_id)
    )


def _template(request: ApiRequest, template_id: object, field: str = "templateId") -> Template:
    pk = _template_id(template_id)
    template = selectors.template_visible(request.auth, pk)
    if template is None:
        raise NotFound("no such template for this site")
    return template


@router.get("/templates", response=responses({200: TemplateList, 422: ValidationErrorOut}, found=False))
def template_list(request: ApiRequest, projectId: JiraId | None = None) -> list[dict[str, Any]]:  # noqa: N803
    """The templates the caller may read: site-wide ones, and with `projectId` that project's (the panel's picker
    passes its issue's). See selectors.templates_visible."""
    project = clean_jira_id(projectId, "projectId")
    return [serializers.template_json(t) for t in selectors.templates_visible(request.auth, project)]


def _template_project(value: str | None) -> str:
    """The project a template belongs to ("" = site-wide), checked before we ask Jira who administers it."""
    return clean_jira_id(value, "projectId")


@router.post("/templates", response=responses({201: TemplateOut}, body=True, found=False))
def template_create(request: ApiRequest, payload: TemplateIn) -> HttpResponse:
    permissions.require_template_admin(request.auth, _template_project(payload.projectId))
    template = services.template_create(tenant=request.auth.tenant, actor=_actor(request), data=_fields(payload))
    return api.create_response(request, serializers.template_json(template), status=201)


@router.get("/templates/{template_id}", response=responses({200: TemplateOut}))
def template_get(request: ApiRequest, template_id: PathItemId) -> dict[str, Any]:
    return serializers.template_json(_template(request, template_id))


@router.patch("/templates/{template_id}", response=responses({200: TemplateOut}, body=True))
def template_update(request: ApiRequest, template_id: PathItemId, payload: TemplatePatchIn) -> dict[str, Any]:
    template = _template(request, template_id)
    permissions.require_template_admin(request.auth, template.project_id)
    destination = _template_project(payload.projectId)
    if "projectId" in payload.model_fields_set and destination != template.project_id:
        # Moving it to another project, or making it site-wide, needs the rights of where it goes as well.
        permissions.require_template_admin(request.auth, destination)
    template = services.template_update(template=template, data=_fields(payload, nullable=("projectId", "issueTypeId")))
    return serializers.template_json(template)


@router.delete("/templates/{template_id}", response=responses({204: None}))
def template_delete(request: ApiRequest, template_id: PathItemId) -> HttpResponse:
    template = _template(request, template_id)
    permissions.require_template_admin(request.auth, template.project_id)
    services.template_delete(template=template)
    return HttpResponse(status=204)


api.add_router("/", router)
api.add_router("/", workflow_router)  # /settings/workflow (checklists/workflow/api.py)
api.add_router("/", admin_router)  # the template manager's statuses and first render (api_admin.py)
