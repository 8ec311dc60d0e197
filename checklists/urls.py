from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from . import admin_pages, automation, manager_views, portal, read_lane, site_tokens_api, telemetry, views, write_lane
from .api import api
from .workflow.urls import urlpatterns as workflow_urlpatterns

api.add_router("/", automation.router)  # Jira Automation calls (issue keys, item text, template names)
api.add_router("/", site_tokens_api.router)  # the admin page's site API tokens
api.add_router("/", portal.router)  # the Forge service portal module's read


@csrf_exempt
def mcp_endpoint(request):
    """/mcp, its module imported on first use: the MCP SDK and the web stack it brings cost about 0.9 s of CPU, which
    every process loading the URLconf paid (system checks, management commands, test servers). The web server's
    WSGI module imports it up front (herochecklist/wsgi.py), so no user's first call waits for it."""
    from .mcp_server import mcp_endpoint as endpoint

    return endpoint(request)


urlpatterns = [
    path(read_lane.ROUTE, read_lane.checklist_read),  # before ninja's own patterns, which hold the same route
    path(write_lane.ROUTE, write_lane.item_write),  # as the read's
    path("api/v1/", api.urls),  # first: herochecklist/urls.py
    path("connect/panel", views.panel, name="connect-panel"),
    path("connect/templates", manager_views.templates_page, name="connect-templates"),
    path("connect/webhooks/issue-deleted", views.issue_deleted, name="connect-issue-deleted"),
    path("forge/events/issue-deleted", views.forge_issue_deleted, name="forge-issue-deleted"),
    path("mcp", mcp_endpoint, name="mcp"),
    path("connect/portal", portal.portal_panel, name="connect-portal"),
    path("connect/admin/api-tokens", admin_pages.api_tokens_page, name="connect-api-tokens"),
    path("telemetry/client-timings", telemetry.client_timings, name="client-timings"),
    *workflow_urlpatterns,
]
