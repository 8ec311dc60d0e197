"""Connect pages and webhooks of the checklist app: the issue panel and issue deletion."""

import json
import re

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from core import context
from core.middleware import jira_frame
from tenants.auth import IssueRef, mint_panel_token
from tenants.decorators import connect_jwt_required

from . import services

ISSUE_ID = re.compile(r"^\d{1,20}$")
ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,30}-\d{1,12}$")
JIRA_ID = re.compile(r"^\d{0,20}$")


@require_GET
@jira_frame
@connect_jwt_required()
def panel(request):
    """The checklist panel in Jira's issue view. Its query parameters are covered by the JWT's qsh."""
    params = {name: request.GET.get(name, "") for name in ("issueId", "issueKey", "projectId", "issueTypeId")}
    errors = {}
    if not ISSUE_ID.match(params["issueId"]):
        errors["issueId"] = "must be a Jira issue id"
    if params["issueKey"] and not ISSUE_KEY.match(params["issueKey"]):
        errors["issueKey"] = "must be a Jira issue key"
    for name in ("projectId", "issueTypeId"):
        if not JIRA_ID.match(params[name]):
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
    token = mint_panel_token(tenant=request.tenant, account_id=request.account_id, issue=issue)
    config = {"issueId": issue.id, "issueKey": issue.key, "apiBase": "/api/v1", "host": "connect"}
    return render(
        request,
        "checklists/panel.html",
        {"token": token, "config": config, "all_js_url": settings.ATLASSIAN_ALL_JS_URL},
    )


@csrf_exempt
@require_POST
@connect_jwt_required()
def issue_deleted(request):
    """jira:issue_deleted: that issue's checklist data goes too."""
    try:
        body = json.loads(request.body or b"{}")
        issue_id = str(body["issue"]["id"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "invalid_payload", "fields": {"issue.id": "is required"}}, status=400)
    if not ISSUE_ID.match(issue_id):
        return JsonResponse({"error": "invalid_payload", "fields": {"issue.id": "must be a Jira issue id"}}, status=400)
    services.checklist_delete_for_issue(tenant=request.tenant, issue_id=issue_id)
    return HttpResponse(status=204)
