"""Attacks on the pages and doors around the API: what a browser or proxy may keep of an answer, and what a log line
keeps of a request."""

import io
import json
import logging
from urllib.parse import urlencode

import pytest

from core.logging import JSONFormatter, RequestContextFilter
from devhost.keys import connect_token
from tenants.site_tokens import site_token_create

pytestmark = pytest.mark.django_db


def signed(tenant, path, query, account="557058:alice", **claims):
    """A page URL as Jira frames it: the query signed by the site's shared secret (qsh)."""
    token = connect_token(
        secret=tenant.shared_secret,
        client_key=tenant.client_key,
        path=path,
        query=list(query.items()),
        account_id=account,
        **claims,
    )
    return f"{path}?{urlencode({**query, 'jwt': token})}"


def test_no_authenticated_page_or_answer_may_be_stored_by_a_cache(client, api, tenant):
    """The panel's and the template manager's HTML carry a token; the portal's, one customer's items; the API's
    answers, one user's view. Only the checklist read said so; a browser kept the rest on disk."""
    api.put_text("- [ ] shared step {customer}\n")
    site_token = site_token_create(tenant=tenant, name="Agent", scope="read", created_by="557058:alice")[1]
    answers = {
        "panel": client.get(signed(tenant, "/connect/panel", {"issueId": "10001", "issueKey": "DEMO-1"})),
        "templates page": client.get(signed(tenant, "/connect/templates", {"projectId": "10000"})),
        "portal": client.get(signed(tenant, "/connect/portal", {"issueId": "10001", "issueKey": "DEMO-1"})),
        "workflow config": client.get(signed(tenant, "/workflow/config", {"rule": "postfunction"})),
        "api tokens page": client.get(signed(tenant, "/connect/admin/api-tokens", {})),
        "text": api.get("/text"),
        "history": api.get("/history"),
        "templates": client.get("/api/v1/templates", HTTP_AUTHORIZATION=api.authorization),
        "site token read": client.get("/api/v1/issues/10001/checklist", HTTP_AUTHORIZATION=f"Bearer {site_token}"),
        "refusal": client.get("/connect/panel?issueId=10001"),
    }
    assert answers["panel"].status_code == answers["portal"].status_code == answers["text"].status_code == 200
    assert {name: r.get("Cache-Control") for name, r in answers.items()} == dict.fromkeys(answers, "private, no-store")


def test_a_view_that_chooses_its_cache_control_keeps_it(client):
    assert client.get("/healthz")["Cache-Control"].startswith("max-age=0")  # never_cache's own


@pytest.fixture
def request_log():
    """What django.request (Django's line for every 4xx and 5xx) writes, formatted as on stdout."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(RequestContextFilter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_a_refused_page_logs_its_path_not_its_query(client, tenant, request_log):
    """A rule's config page URL carries the header's text (Jira fills in the saved config), and a URL-encoded email
    is not one the scrubber sees: an expired token or a bad parameter put them in the log."""
    config = json.dumps({"mode": "section", "section": "0123456789abcdef", "sectionName": "Payroll of Dana Smith"})
    query = {"rule": "validator", "page": "edit", "config": config, "note": "dana.smith@example.com"}
    expired = client.get(signed(tenant, "/workflow/config", query, iat=1_000_000, exp=1_000_100))
    bad = client.get(signed(tenant, "/workflow/config", {**query, "rule": "nope"}))
    assert (expired.status_code, bad.status_code) == (401, 400)
    lines = [json.loads(line) for line in request_log.getvalue().splitlines()]
    assert [line["request"] for line in lines] == ["<GET /workflow/config>"] * 2
    assert "Payroll" not in request_log.getvalue() and "dana.smith" not in request_log.getvalue()
