"""The template manager's Connect pages: a project settings tab (jiraProjectAdminTabPanels) and a site admin page
(adminPages), one view and one page. Jira signs the URL (qsh); the page gets a short-lived token of its own that names
no issue (tenants/auth/panel.py), and every change it asks for is checked against Jira on the server."""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.identifiers import is_account_id
from core.middleware import jira_frame
from tenants.auth import mint_admin_token
from tenants.decorators import connect_jwt_required

from .validation import is_jira_id


@require_GET
@jira_frame
@connect_jwt_required()
def templates_page(request):
    project_id = request.GET.get("projectId", "")
    if project_id and not is_jira_id(project_id):
        return JsonResponse({"error": "invalid_parameters", "fields": {"projectId": "must be a Jira id"}}, status=400)
    if not isinstance(request.account_id, str) or not is_account_id(request.account_id):
        return JsonResponse({"error": "unauthorized", "detail": "Sign in to Jira to manage templates."}, status=401)
    config = {"apiBase": "/api/v1", "host": "connect", "projectId": project_id}
    token = mint_admin_token(tenant=request.tenant, account_id=request.account_id)
    context = {"token": token, "config": config, "all_js_url": settings.ATLASSIAN_ALL_JS_URL}
    return render(request, "checklists/manager.html", context)
