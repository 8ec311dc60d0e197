from django.urls import path

from . import views

urlpatterns = [
    path("connect/webhooks/issue-created", views.connect_issue_created, name="connect-issue-created"),
    path("connect/webhooks/issuelink-created", views.connect_issuelink_created, name="connect-issuelink-created"),
    path("connect/webhooks/issue-updated", views.connect_issue_updated, name="connect-issue-updated"),
    path("workflow/post-function", views.connect_post_function, name="workflow-post-function"),
    path("workflow/config", views.config_page, name="workflow-config"),
    path("workflow/section-key", views.section_key, name="workflow-section-key"),
    path("forge/events/issue-created", views.forge_issue_created, name="forge-issue-created"),
    path("forge/events/issue-updated", views.forge_issue_updated, name="forge-issue-updated"),
    path("forge/workflow/reset-statuses", views.forge_reset_statuses, name="forge-reset-statuses"),
    path("forge/workflow/apply-template", views.forge_apply_template, name="forge-apply-template"),
]
