"""
The app's admin page "API tokens" (Connect `adminPages`, Forge `jira:adminPage`): a site's Jira administrators
create, see and revoke its site API tokens there. The page is a shell; its script calls /api/v1/site-tokens with a
fresh Connect context token (AP.context.getToken), where every call is checked for Jira admin again.
"""

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.middleware import jira_frame
from tenants import permissions
from tenants.auth import AuthContext
from tenants.decorators import connect_jwt_required


@require_GET
@jira_frame
@connect_jwt_required()
def api_tokens_page(request):
    account_id = request.account_id if isinstance(request.account_id, str) else ""
    auth = AuthContext(tenant=request.tenant, account_id=account_id, source="connect")
    # Jira shows admin pages to admins only; asked again here, so a page URL replayed by anyone else shows nothing.
    allowed = bool(account_id) and permissions.template_grants(auth, "").administer_jira
    context = {"allowed": allowed, "config": {"apiBase": "/api/v1"}, "all_js_url": settings.ATLASSIAN_ALL_JS_URL}
    return render(request, "checklists/api_tokens.html", context, status=200 if allowed else 403)
