from django.urls import path

from . import views

urlpatterns = [
    path("atlassian-connect.json", views.descriptor, name="connect-descriptor"),
    path("connect/installed", views.installed, name="connect-installed"),
    path("connect/uninstalled", views.uninstalled, name="connect-uninstalled"),
    path("connect/enabled", views.enabled, name="connect-enabled"),
    path("connect/disabled", views.disabled, name="connect-disabled"),
    path("forge/lifecycle", views.forge_lifecycle, name="forge-lifecycle"),
]
