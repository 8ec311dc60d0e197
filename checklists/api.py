"""
/api/v1 as ../shared/api-contract.md fixes it. Views are thin: authenticate, scope to the credential's tenant
and issue, call a service or selector, shape the JSON. Errors are JSON that names each bad field.
"""

import time
import uuid

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from ninja import NinjaAPI, Router, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.throttling import BaseThrottle
from pydantic import ConfigDict, StrictBool, StrictInt, StrictStr

from core import context
from core.counters import window_count
from core.exceptions import Conflict, NotFound, ValidationFailed
from tenants.auth import AuthContext, AuthError, IssueRef, authenticate_api_request

from . import selectors, services
from .models import Template
from .validation import is_jira_id

CAMEL = {
    "is_header": "isHeader",
    "assignee_account_id": "assigneeAccountId",
    "due_date": "dueDate",
    "project_id": "projectId",
    "issue_type_id": "issueTypeId",
    "auto_apply": "autoApply",
}
SNAKE = {v: k for k, v in CAMEL.items()}


class ApiAuth:
    """Any one credential of the contract; None (401) on any failure, without saying why."""

    def __call__(self, request):
        try:
            return authenticate_api_request(request)
        except AuthError as exc:
            request.auth_failure = str(exc)
            return None


class AccountThrottle(BaseThrottle):
    """Per site and user, per clock minute, shared by every web node through the cache. A counter (one round trip)
    rather than ninja's request-history list, which is re-pickled whole on every request."""

    def allow_request(self, request) -> bool:
        auth = getattr(request, "auth", None)
        if not isinstance(auth, AuthContext):
            return True
        minute = int(time.time() // 60)
        count = window_count(f"throttle:{auth.tenant.id}:{auth.account_id}:{minute}", ttl_seconds=120)
        self.reset_in = 60 - time.time() % 60
        return count <= settings.API_RATE_LIMIT_PER_MINUTE

    def wait(self) -> float:
        return getattr(self, "reset_in", 60.0)


api = NinjaAPI(
    title="HeroChecklist API",
    version="1",
    urls_namespace="api-v1",
    auth=ApiAuth(),
    throttle=[AccountThrottle()],
    docs_url=None,
)
router = Router()


def _error(request, status: int, body: dict, **headers) -> HttpResponse:
    response = api.create_response(request, body, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    import logging

    logging.getLogger(__name__).warning("authentication failed: %s", getattr(request, "auth_failure", "no credential"))
    return _error(request, 401, {"error": "unauthorized", "detail": "Authentication failed."})


@api.exception_handler(ValidationFailed)
def _invalid(request, exc: ValidationFailed):
    fields = {CAMEL.get(k, k): v for k, v in exc.errors.items()}
    return _error(request, exc.status, {"error": "validation_failed", "fields": fields})


@api.exception_handler(ValidationError)
def _schema_invalid(request, exc: ValidationError):
    fields = {}
    for error in exc.errors:
        loc = [str(p) for p in error.get("loc", []) if p not in ("body", "payload")]
        name = loc[-1] if loc else "body"
        message = error.get("msg", "is invalid")
        if error.get("type") == "extra_forbidden":
            message = "is not a known field"
        elif error.get("type") == "missing":
            message = "is required"
        fields[name] = message
    return _error(request, 422, {"error": "validation_failed", "fields": fields})


@api.exception_handler(Conflict)
def _conflict(request, exc: Conflict):
    body = {"error": "precondition_failed" if exc.status == 412 else "conflict", "detail": exc.message}
    body.update(exc.details)
    return _error(request, exc.status, body)


@api.exception_handler(NotFound)
def _not_found(request, exc):
    return _error(request, 404, {"error": "not_found"})


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return _error(request, 413, {"error": "too_large", "detail": "The request body is over the limit."})


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if exc.status_code == 429:
        return _error(request, 429, {"error": "rate_limited", "detail": "Too many requests; slow down."})
    return _error(request, exc.status_code, {"error": "error", "detail": str(exc)})


# --- scoping -----------------------------------------------------------------------------------------------------


def _issue(request, issue_id: str) -> IssueRef:
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
    context.issue_key.set(issue.key)
    return issue


def _actor(request) -> services.Actor:
    return services.Actor(account_id=request.auth.account_id)


def _expected_version(request) -> int | None:
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not is_jira_id(value, max_length=12):
        raise ValidationFailed({"If-Match": "must be the checklist version, a whole number"}, status=400)
    return int(value)


def _with_version(response: HttpResponse, version: int) -> HttpResponse:
    response["ETag"] = f'"{version}"'
    return response


def _item_id(item_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(item_id)
    except ValueError:
        raise NotFound("not an item id") from None


def _checklist_response(request, checklist, issue, status: int = 200) -> HttpResponse:
    data = selectors.checklist_json(checklist, issue)
    return _with_version(api.create_response(request, data, status=status), data["version"])


# --- schemas (strict: a string is not a boolean, unknown fields are errors) --------------------------------------


class _Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class ItemCreateIn(_Strict):
    text: StrictStr
    status: StrictStr | None = None
    isHeader: StrictBool | None = None  # noqa: N815 (contract field names)
    mandatory: StrictBool | None = None
    assigneeAccountId: StrictStr | None = None  # noqa: N815
    dueDate: StrictStr | None = None  # noqa: N815
    position: StrictInt | None = None


class ItemPatchIn(_Strict):
    text: StrictStr | None = None
    status: StrictStr | None = None
    isHeader: StrictBool | None = None  # noqa: N815
    mandatory: StrictBool | None = None
    assigneeAccountId: StrictStr | None = None  # noqa: N815
    dueDate: StrictStr | None = None  # noqa: N815
    position: StrictInt | None = None


class OrderIn(_Strict):
    itemIds: list[StrictStr]  # noqa: N815


class TemplateIn(_Strict):
    name: StrictStr
    text: StrictStr
    projectId: StrictStr | None = None  # noqa: N815
    issueTypeId: StrictStr | None = None  # noqa: N815
    autoApply: StrictBool | None = None  # noqa: N815


class TemplatePatchIn(_Strict):
    name: StrictStr | None = None
    text: StrictStr | None = None
    projectId: StrictStr | None = None  # noqa: N815
    issueTypeId: StrictStr | None = None  # noqa: N815
    autoApply: StrictBool | None = None  # noqa: N815


class ApplyTemplateIn(_Strict):
    templateId: StrictStr  # noqa: N815
    mode: StrictStr = "append"


def _fields(payload: Schema, *, nullable: tuple[str, ...] = ("assigneeAccountId", "dueDate")) -> dict:
    data = payload.model_dump(exclude_unset=True)
    # null means "clear" only where clearing makes sense; elsewhere it is the same as leaving the field out.
    data = {k: v for k, v in data.items() if v is not None or k in nullable}
    return {SNAKE.get(k, k): v for k, v in data.items()}


# --- checklist endpoints -----------------------------------------------------------------------------------------


@router.get("/issues/{issue_id}/checklist")
def checklist_get(request, issue_id: str):
    issue = _issue(request, issue_id)
    checklist = services.checklist_open(tenant=request.auth.tenant, issue=issue, actor=_actor(request))
    return _checklist_response(request, checklist, issue)


@router.post("/issues/{issue_id}/checklist/items")
def item_create(request, issue_id: str, payload: ItemCreateIn):
    issue = _issue(request, issue_id)
    checklist, item = services.item_create(
        tenant=request.auth.tenant,
        issue=issue,
        actor=_actor(request),
        data=_fields(payload),
        expected_version=_expected_version(request),
    )
    return _with_version(api.create_response(request, selectors.item_json(item), status=201), checklist.version)


@router.patch("/issues/{issue_id}/checklist/items/{item_id}")
def item_update(request, issue_id: str, item_id: str, payload: ItemPatchIn):
    issue = _issue(request, issue_id)
    checklist, item = services.item_update(
        tenant=request.auth.tenant,
        issue=issue,
        actor=_actor(request),
        item_id=_item_id(item_id),
        data=_fields(payload),
        expected_version=_expected_version(request),
    )
    return _with_version(api.create_response(request, selectors.item_json(item), status=200), checklist.version)


@router.delete("/issues/{issue_id}/checklist/items/{item_id}")
def item_delete(request, issue_id: str, item_id: str):
    issue = _issue(request, issue_id)
    checklist = services.item_delete(
        tenant=request.auth.tenant,
        issue=issue,
        actor=_actor(request),
        item_id=_item_id(item_id),
        expected_version=_expected_version(request),
    )
    return _with_version(HttpResponse(status=204), checklist.version)


@router.put("/issues/{issue_id}/checklist/order")
def checklist_reorder(request, issue_id: str, payload: OrderIn):
    issue = _issue(request, issue_id)
    checklist = services.checklist_reorder(
        tenant=request.auth.tenant,
        issue=issue,
        actor=_actor(request),
        item_ids=payload.itemIds,
        expected_version=_expected_version(request),
    )
    return _checklist_response(request, checklist, issue)


@router.get("/issues/{issue_id}/checklist/text")
def checklist_text_get(request, issue_id: str):
    issue = _issue(request, issue_id)
    checklist = services.checklist_open(tenant=request.auth.tenant, issue=issue, actor=_actor(request))
    response = HttpResponse(selectors.checklist_text(checklist), content_type="text/plain; charset=utf-8")
    return _with_version(response, checklist.version if checklist else 0)


@router.put("/issues/{issue_id}/checklist/text")
def checklist_text_put(request, issue_id: str):
    issue = _issue(request, issue_id)
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type not in ("text/plain", ""):
        raise ValidationFailed({"Content-Type": "send the checklist as text/plain"}, status=415)
    try:
        text = request.body.decode("utf-8")
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


@router.post("/issues/{issue_id}/checklist/apply-template")
def checklist_apply_template(request, issue_id: str, payload: ApplyTemplateIn):
    issue = _issue(request, issue_id)
    template = _template(request, payload.templateId, field="templateId")
    checklist = services.checklist_apply_template(
        tenant=request.auth.tenant,
        issue=issue,
        actor=_actor(request),
        template=template,
        mode=payload.mode,
        expected_version=_expected_version(request),
    )
    return _checklist_response(request, checklist, issue)


@router.get("/issues/{issue_id}/checklist/history")
def checklist_history(request, issue_id: str, limit: int = 100):
    issue = _issue(request, issue_id)
    if not 1 <= limit <= selectors.MAX_HISTORY:
        raise ValidationFailed({"limit": f"must be from 1 to {selectors.MAX_HISTORY}"}, status=400)
    return selectors.history_json(selectors.checklist_for(request.auth.tenant, issue.id), limit)


# --- templates ---------------------------------------------------------------------------------------------------


def _template(request, template_id: str, field: str = "templateId") -> Template:
    try:
        pk = uuid.UUID(str(template_id))
    except ValueError:
        raise NotFound("not a template id") from None
    template = Template.objects.filter(tenant=request.auth.tenant, id=pk).first()
    if template is None:
        raise NotFound("no such template for this site")
    return template


@router.get("/templates")
def template_list(request):
    templates = Template.objects.filter(tenant=request.auth.tenant).order_by("name", "created_at")
    return [selectors.template_json(t) for t in templates]


@router.post("/templates")
def template_create(request, payload: TemplateIn):
    template = services.template_create(tenant=request.auth.tenant, actor=_actor(request), data=_fields(payload))
    return api.create_response(request, selectors.template_json(template), status=201)


@router.get("/templates/{template_id}")
def template_get(request, template_id: str):
    return selectors.template_json(_template(request, template_id))


@router.patch("/templates/{template_id}")
def template_update(request, template_id: str, payload: TemplatePatchIn):
    template = services.template_update(
        template=_template(request, template_id), data=_fields(payload, nullable=("projectId", "issueTypeId"))
    )
    return selectors.template_json(template)


@router.delete("/templates/{template_id}")
def template_delete(request, template_id: str):
    services.template_delete(template=_template(request, template_id))
    return HttpResponse(status=204)


api.add_router("/", router)
