"""core.middleware.ApiHeadMiddleware: HEAD on /api/ answers as GET does (status, headers), without a body."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from core.middleware import ApiHeadMiddleware

pytestmark = pytest.mark.django_db


def test_head_answers_like_get_without_a_body(api):
    api.add("x")
    for path in (api.url(), api.url("/text"), api.url("/history"), "/api/v1/templates", "/api/v1/statuses"):
        got = api.client.get(path, HTTP_AUTHORIZATION=api.authorization)
        head = api.client.head(path, HTTP_AUTHORIZATION=api.authorization)
        assert (head.status_code, got.status_code) == (200, 200), path
        assert head["Content-Length"] == got["Content-Length"] == str(len(got.content)), path
        assert head["Content-Type"] == got["Content-Type"] and head.get("ETag") == got.get("ETag"), path
        assert head.content == b""


def test_head_keeps_the_answers_that_are_not_200(api, client):
    api.add("x")
    assert client.head(api.url()).status_code == 401  # no credential
    assert api.client.head("/api/v1/nope", HTTP_AUTHORIZATION=api.authorization).status_code == 404
    version = api.get()["ETag"]
    unchanged = api.client.head(api.url(), HTTP_AUTHORIZATION=api.authorization, HTTP_IF_NONE_MATCH=version)
    assert unchanged.status_code == 304
    refused = api.client.head(api.url("/order"), HTTP_AUTHORIZATION=api.authorization)
    assert refused.status_code == 405 and refused["Content-Type"].startswith("application/json")


def test_the_body_is_dropped_here_not_left_to_the_server():
    """Django's test client and its development server drop a HEAD answer's body themselves; not every server does."""
    seen = []

    def view(request):
        seen.append(request.method)
        return HttpResponse(b'{"items": []}', content_type="application/json")

    request = RequestFactory().head("/api/v1/templates")
    response = ApiHeadMiddleware(view)(request)
    assert (response.status_code, response.content, response["Content-Length"]) == (200, b"", "13")
    assert seen == ["GET"] and request.method == "HEAD"  # the method is HEAD again for metrics and logs
    other = RequestFactory().head("/healthz")
    assert ApiHeadMiddleware(view)(other).content == b'{"items": []}' and seen[-1] == "HEAD"  # only /api/
