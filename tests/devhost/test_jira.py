"""The simulated Jira site of `make run` as a person meets it in a browser."""

import httpx

from devhost.jira import JiraStandIn


def test_an_issue_opened_before_the_app_is_installed_says_so_and_the_site_has_an_icon():
    """Opened while `make run` is still starting (no install yet, so no shared secret to sign the panel's token),
    the issue page answered with a dropped connection (the token signer's exception); it now says what to wait for.
    The browser's /favicon.ico is no 404 in the console of every page."""
    jira = JiraStandIn().start()
    try:
        page = httpx.get(f"{jira.base_url}/browse/DEMO-1", timeout=10)
        assert page.status_code == 503
        assert "not installed" in page.text
        assert httpx.get(f"{jira.base_url}/context-token?issueId=10001", timeout=10).status_code == 503
        icon = httpx.get(f"{jira.base_url}/favicon.ico", timeout=10)
        assert icon.status_code == 200
        assert icon.headers["content-type"] == "image/svg+xml"
    finally:
        jira.stop()
