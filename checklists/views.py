"""Pages and events of the checklist app: the Connect issue panel, and issue deletion from Connect or Forge."""

import re

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from core import context
from core.jsonbody import BadJson, bad_json_response, request_json
from core.middleware import jira_frame
from tenants.auth import FORGE_ISSUE_DELETED_MODULE, AuthError, IssueRef, mint_panel_token
from tenants.decorators import connect_jwt_required, fit_required, unauthorized
from tenants.services import tenant_for_forge_invocation

from . import services
from .jira_facts import project_is_service_desk
from .validation import is_jira_id

# Matched with fullmatch and ASCII classes: `\d` admits digits of other scripts and `$` a trailing newline.
ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,30}-[0-9]{1,12}")


@require_GET
@jira_frame
@connect_jwt_required()
def panel(request):
    """The checklist panel in Jira's issue view. Its query parameters are covered by the JWT's qsh."""
    params = {name: request.GET.get(name, "") for name in ("issueId", "issueKey", "projectId", "issueTypeId")}
    errors = {}
    if not is_jira_id(params["issueId"]):
        errors["issueId"] = "must be a Jira issue id"
    if params["issueKey"] and not ISSUE_KEY.fullmatch(params["issueKey"]):
        errors["issueKey"] = "must be a Jira issue key"
    for name in ("projectId", "issueTypeId"):
        if params[name] and not is_jira_id(params[name]):
            errors[name] = "must be a Jira id"
    if errors:
        return JsonResponse({"error": "invalid_parameters", "fields": errors}, status=400)
    issue = IssueRef(
        id=params["issueId"],
        key=params["issueKey"],
        project_id=params["projectId"],
        issue_type_id=params["issueTypeId"],
    )
    context.issue_key.set(issue.key)
    # No `sub` (a public issue seen logged out): the panel token names no user, and such a token may only read
    # (tenants/permissions.py). Whatever Jira lets a user do is asked again on each write, never carried in the token.
    account_id = request.account_id if isinstance(request.account_id, str) else ""
    token = mint_panel_token(tenant=request.tenant, account_id=account_id, issue=issue)
    config = {"issueId": issue.id, "issueKey": issue.key, "apiBase": "/api/v1", "host": "connect"}
    if account_id:  # the panel's "only my items" filter; names come from Jira in the browser, never from us
        config["accountId"] = account_id
    # "Visible to customer" means something only where Jira Service Management shows a portal: offered in a service
    # desk project, left out elsewhere; unknown (Jira did not answer) leaves it offered, as it always was.
    service_desk = project_is_service_desk(request.tenant, issue.project_id)
    if service_desk is not None:
        config["serviceDesk"] = service_desk
    if request.tenant.client_timing_enabled:  # the panel's timing beacon (checklists/telemetry.py)
        config["timingUrl"] = reverse("client-timings")
    return render(
        request,
        "checklists/panel.html",
        {"token": token, "config": config, "all_js_url": settings.ATLASSIAN_ALL_JS_URL},
    )


def _delete_issue_checklist(request, tenant):
    try:
        body = request_json(request, {})
    except BadJson:
        return bad_json_response()
    try:
        issue_id = str(body["issue"]["id"])
    except (KeyError, TypeError):
        return JsonResponse({"error": "invalid_payload", "fields": {"issue.id": "is required"}}, status=400)
    if not is_jira_id(issue_id):
        return JsonResponse({"error": "invalid_payload", "fields": {"issue.id": "must be a Jira issue id"}}, status=400)
    services.checklist_delete_for_issue(tenant=tenant, issue_id=issue_id)
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
@connect_jwt_required()
def issue_deleted(request):
    """jira:issue_deleted: that issue's checklist data goes too."""
    return _delete_issue_checklist(request, request.tenant)


@csrf_exempt
@require_POST
@fit_required(FORGE_ISSUE_DELETED_MODULE)
def forge_issue_deleted(request):
    """avi:jira:deleted:issue through Forge: the site is the FIT's installation, never a field of the body."""
    try:
        tenant = tenant_for_forge_invocation(claims=request.fit_claims)
    except AuthError as exc:  # the app was uninstalled from that site
        return unauthorized(str(exc))
    return _delete_issue_checklist(request, tenant)
