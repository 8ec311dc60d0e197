"""core.edge: /api/ passes only the edge middleware; every other path still gets sessions, CSRF, users and the rest."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_api_skips_the_admin_middleware_and_keeps_the_edge(client):
    response = client.get("/api/v1/issues/10001/checklist")
    assert response.status_code == 401
    request = response.wsgi_request
    assert not hasattr(request, "user") and not hasattr(request, "session")  # no sessions, no users
    assert response["X-Request-ID"] and response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response.json() == {"error": "unauthorized", "detail": "Authentication failed."}


def test_pages_outside_the_api_keep_sessions_users_and_csrf():
    client = Client(enforce_csrf_checks=True)
    page = client.get("/admin/login/")
    assert page.status_code == 200
    assert hasattr(page.wsgi_request, "user") and hasattr(page.wsgi_request, "session")
    # CSRF's check is a view hook: run through the admin stack, it still refuses a form without its token.
    refused = client.post("/admin/login/", {"username": "someone", "password": "x" * 12})
    assert refused.status_code == 403
