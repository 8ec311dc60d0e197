from django.urls import path

from . import manager_views, telemetry, views
from .api import api
from .workflow.urls import urlpatterns as workflow_urlpatterns

urlpatterns = [
    path("connect/panel", views.panel, name="connect-panel"),
    path("connect/templates", manager_views.templates_page, name="connect-templates"),
    path("connect/webhooks/issue-deleted", views.issue_deleted, name="connect-issue-deleted"),
    path("forge/events/issue-deleted", views.forge_issue_deleted, name="forge-issue-deleted"),
    path("api/v1/", api.urls),
    path("telemetry/client-timings", telemetry.client_timings, name="client-timings"),
    *workflow_urlpatterns,
]
