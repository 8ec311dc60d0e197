"""Jira's calls for the workflow: issue created / link created / issue updated (Connect webhooks, Forge triggers),
the post function (Connect callback, Forge endpoint), and the rules' config pages. Each checks its credential, reads
only what it needs from the body, queues the work and answers at once (Jira retries a slow or failed delivery)."""

import hashlib
import logging

from django.conf import settings
from django.core import signing
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from core import jsonbody
from core.exceptions import ValidationFailed
from core.middleware import jira_frame
from tenants.auth import AuthError
from tenants.decorators import connect_jwt_required, fit_required, unauthorized
from tenants.services import tenant_for_forge_invocation, tenant_set_workflow_settings
from tenants.types import AuthContext, IssueRef

from .. import selectors
from .. import workflow_rules as rules
from ..validation import is_jira_id
from ..views import ISSUE_KEY
from . import services, tasks

logger = logging.getLogger(__name__)

CLONERS = "Cloners"  # Jira's built-in link type of a clone to its source (outward "clones")
FORGE_CREATED_MODULE = "herochecklist-issue-created"
FORGE_UPDATED_MODULE = "herochecklist-issue-updated"
FORGE_RESET_MODULE = "herochecklist-reset-statuses"
FORGE_APPLY_MODULE = "herochecklist-apply-template"
CONFIG_TOKEN_SALT = "herochecklist.workflow-config"
CONFIG_TOKEN_SECONDS = 3600


def _bad(field: str, reason: str) -> JsonResponse:
    return JsonResponse({"error": "invalid_payload", "fields": {field: reason}}, status=400)


def _body(request) -> dict | HttpResponse:
    """The body, a JSON object; else the 400 to answer."""
    try:
        body = jsonbody.request_json(request)
    except jsonbody.BadJson:
        return jsonbody.bad_json_response()
    return body if isinstance(body, dict) else _bad("body", "must be a JSON object")


def _issue_ref(issue) -> IssueRef | None:
    """A webhook's or trigger's issue: id required; key, project and type when they are well formed."""
    if not isinstance(issue, dict) or not is_jira_id(str(issue.get("id", ""))):
        return None
    fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}

    def jira_id(name: str) -> str:
        value = fields.get(name)
        value = str(value.get("id", "")) if isinstance(value, dict) else ""
        return value if is_jira_id(value) else ""

    key = issue.get("key") if isinstance(issue.get("key"), str) and ISSUE_KEY.fullmatch(issue["key"]) else ""
    return IssueRef(id=str(issue["id"]), key=key, project_id=jira_id("project"), issue_type_id=jira_id("issuetype"))


def _clone_source(issue: dict) -> str:
    """The issue this new one was cloned from: its "Cloners" link's outward issue ("this clones that")."""
    links = (issue.get("fields") or {}).get("issuelinks") if isinstance(issue.get("fields"), dict) else None
    for link in links if isinstance(links, list) else []:
        if (
            not isinstance(link, dict)
            or not isinstance(link.get("type"), dict)
            or not isinstance(link.get("outwardIssue"), dict)
        ):
            continue
        source = str(link["outwardIssue"].get("id", ""))
        if link["type"].get("name") == CLONERS and is_jira_id(source):
            return source
    return ""


def _issue_json(ref: IssueRef) -> dict:
    return {"id": ref.id, "key": ref.key, "project_id": ref.project_id, "issue_type_id": ref.issue_type_id}


def _queue(task, *args) -> HttpResponse:
    try:
        task.delay(*args)
    except Exception:
        # Not queued (broker down): a non-2xx answer makes Jira deliver it again.
        logger.exception("workflow: could not queue", extra={"task": task.name})
        return JsonResponse({"error": "unavailable"}, status=503, headers={"Retry-After": "30"})
    return HttpResponse(status=204)


def _issue_created(tenant, body: dict) -> HttpResponse:
    ref = _issue_ref(body.get("issue"))
    if ref is None:
        return _bad("issue.id", "is required, a Jira issue id")
    return _queue(tasks.issue_created_task, str(tenant.id), _issue_json(ref), _clone_source(body["issue"]))


def _link_created(tenant, link) -> HttpResponse:
    """A link made after the issue (Jira may add a clone's link after `issue_created`): the clone is the link's
    source ("source clones destination")."""
    if not isinstance(link, dict):
        return _bad("issueLink", "is required")
    kind = link.get("issueLinkType") if isinstance(link.get("issueLinkType"), dict) else {}
    clone, source = str(link.get("sourceIssueId", "")), str(link.get("destinationIssueId", ""))
    if kind.get("name") != CLONERS:
        return HttpResponse(status=204)
    if not is_jira_id(clone) or not is_jira_id(source):
        return _bad("issueLink", "needs sourceIssueId and destinationIssueId")
    return _queue(tasks.clone_linked_task, str(tenant.id), clone, source)


def _issue_updated(tenant, body: dict) -> HttpResponse:
    ref = _issue_ref(body.get("issue"))
    if ref is None:
        return _bad("issue.id", "is required, a Jira issue id")
    services.checklist_issue_moved(tenant=tenant, issue=ref)  # one indexed update: no queue needed
    return HttpResponse(status=204)


# --- Connect ----------------------------------------------------------------------------------------------------


def _connect(handler):
    @csrf_exempt
    @require_POST
    @connect_jwt_required()
    def view(request):
        body = _body(request)
        return body if isinstance(body, HttpResponse) else handler(request, body)

    view.__name__ = handler.__name__
    return view


@_connect
def connect_issue_created(request, body):
    """jira:issue_created."""
    return _issue_created(request.tenant, body)


@_connect
def connect_issuelink_created(request, body):
    """jira:issuelink_created."""
    return _link_created(request.tenant, body.get("issueLink"))


@_connect
def connect_issue_updated(request, body):
    """jira:issue_updated: a move or a new issue type keeps the checklist, with the new ids."""
    return _issue_updated(request.tenant, body)


@_connect
def connect_post_function(request, body):
    """jiraWorkflowPostFunctions `triggered`: the transition's issue and the post function's saved configuration
    (`configuration.value`, the JSON string the config page saved)."""
    ref = _issue_ref(body.get("issue"))
    if ref is None:
        return _bad("issue.id", "is required, a Jira issue id")
    configuration = body.get("configuration") if isinstance(body.get("configuration"), dict) else {}
    try:
        config = services.clean_post_function_config(jsonbody.loads(configuration.get("value") or "null"))
    except jsonbody.BadJson:
        return _bad("configuration.value", "must be the JSON the config page saved")
    except ValidationFailed as exc:
        return JsonResponse(exc.body("invalid_payload"), status=400)
    # Jira's retry of one delivery sends the same body: its hash is the execution key.
    execution = hashlib.sha256(request.body).hexdigest()
    return _queue(tasks.post_function_task, str(request.tenant.id), _issue_json(ref), config, execution)


# --- Forge --------------------------------------------------------------------------------------------------------


def _forge(module_key: str):
    def decorator(handler):
        @csrf_exempt
        @require_POST
        @fit_required(module_key)
        def view(request):
            try:
                # The system token (manifest: appSystemToken) lets the queued work write the property as the app.
                tenant = tenant_for_forge_invocation(
                    claims=request.fit_claims, system_token=request.headers.get("x-forge-oauth-system", "")
                )
            except AuthError as exc:  # the app was uninstalled from that site
                return unauthorized(str(exc))
            body = _body(request)
            return body if isinstance(body, HttpResponse) else handler(request, tenant, body)

        view.__name__ = handler.__name__
        return view

    return decorator


@_forge(FORGE_CREATED_MODULE)
def forge_issue_created(request, tenant, body):
    """Trigger on avi:jira:created:issue and avi:jira:created:issuelink (one module, so one FIT audience)."""
    if body.get("eventType") == "avi:jira:created:issuelink":
        return _link_created(tenant, body)
    return _issue_created(tenant, body)


@_forge(FORGE_UPDATED_MODULE)
def forge_issue_updated(request, tenant, body):
    """Trigger on avi:jira:updated:issue."""
    return _issue_updated(tenant, body)


def _forge_post_function(config: dict):
    def handler(request, tenant, body):
        ref = _issue_ref(body.get("issue"))
        if ref is None:
            return _bad("issue.id", "is required, a Jira issue id")
        transition = body.get("transition") if isinstance(body.get("transition"), dict) else {}
        execution = str(transition.get("executionId") or "")[:200] or hashlib.sha256(request.body).hexdigest()
        return _queue(tasks.post_function_task, str(tenant.id), _issue_json(ref), config, f"{ref.id}:{execution}")

    return handler


forge_reset_statuses = _forge(FORGE_RESET_MODULE)(_forge_post_function({"action": services.RESET}))
forge_apply_template = _forge(FORGE_APPLY_MODULE)(_forge_post_function({"action": services.APPLY}))


# --- the rules' config pages (Connect workflow editor) -------------------------------------------------------------

RULES = {"validator": "Checklist complete", "condition": "Checklist complete", "postfunction": "Set the checklist"}


@require_GET
@jira_frame
@connect_jwt_required()
def config_page(request):
    """The create/edit/view page of a validator, condition or post function (`rule`), shown in Jira's workflow
    editor; it saves through AP's WorkflowConfiguration. Serving it tells us the site uses workflow rules: from then on
    each checklist write marks the progress property pending first (guard.py)."""
    rule = request.GET.get("rule", "")
    if rule not in RULES:
        return _bad("rule", f"must be one of {sorted(RULES)}")
    tenant = request.tenant
    if rule != "postfunction" and not tenant.workflow_rules_in_use:
        tenant_set_workflow_settings(tenant=tenant, workflow_rules_in_use=True)
    try:
        saved = jsonbody.loads(request.GET.get("config") or "null")
    except jsonbody.BadJson:
        saved = None
    if rule == "postfunction":
        try:
            saved = services.clean_post_function_config(saved)
        except ValidationFailed:
            saved = {"action": services.RESET}
    else:
        saved = rules.clean_rule_config(saved)
    token = signing.dumps({"t": str(tenant.id)}, salt=CONFIG_TOKEN_SALT)
    # The templates this user may read (Jira shows this page to workflow admins; a replayed URL shows no more).
    account_id = request.account_id if isinstance(request.account_id, str) else ""
    auth = AuthContext(tenant=tenant, account_id=account_id, source="connect")
    templates = [{"id": str(t.id), "name": t.name} for t in selectors.templates_visible(auth)]
    context = {
        "rule": rule,
        "title": RULES[rule],
        "read_only": request.GET.get("page") == "view",
        "modes": rules.MODES,
        "config": {"rule": rule, "saved": saved, "token": token, "templates": templates},
        "all_js_url": settings.ATLASSIAN_ALL_JS_URL,
    }
    return render(request, "checklists/workflow_config.html", context)


@csrf_exempt
@require_POST
def section_key(request):
    """The property's name of a header (rules.section_key) for the config page: the site's key stays on our side."""
    try:
        body = jsonbody.request_json(request)
    except jsonbody.BadJson:
        return jsonbody.bad_json_response()
    body = body if isinstance(body, dict) else {}
    try:
        tenant_id = signing.loads(str(body.get("token", "")), salt=CONFIG_TOKEN_SALT, max_age=CONFIG_TOKEN_SECONDS)["t"]
    except (signing.BadSignature, KeyError, TypeError):
        return unauthorized("config token invalid or expired")
    header = body.get("header")
    if not isinstance(header, str) or not rules.normalise_header(header) or len(header) > 2000:
        return _bad("header", "is required, a header's text")
    return JsonResponse({"key": rules.section_key(tenant_id, header)})
