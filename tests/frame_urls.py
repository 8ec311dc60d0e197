"""Test-only URLs: a page marked as a Jira iframe page beside an ordinary one."""

from django.http import HttpResponse
from django.urls import path

from core.middleware import jira_frame


@jira_frame
def framed(request):
    return HttpResponse("<p>panel</p>")


def plain(request):
    return HttpResponse("<p>page</p>")


urlpatterns = [path("framed", framed), path("plain", plain)]
