"""The stand-in Jira's people endpoints, as the panel's browser calls them (through the Jira page, with the user's
session): who is signed in decides the answer, and nothing comes from the internet."""

import httpx
import pytest

from devhost.jira import DEMO_USER, JiraStandIn
from devhost.jira_users import COOKIE


@pytest.fixture(scope="module")
def jira():
    server = JiraStandIn().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def session(jira):
    """A browser that opened an issue page as Bob: it holds his Jira session cookie."""
    client = httpx.Client(base_url=jira.base_url)
    jira.shared_secret, jira.app_base_url = "s" * 40, "http://127.0.0.1:9"
    assert client.get("/browse/DEMO-1", params={"as": "557058:devhost-bob"}).status_code == 200
    assert COOKIE in client.cookies
    yield client
    client.close()


def test_search_answers_the_signed_in_user_only(jira, session):
    assert httpx.get(f"{jira.base_url}/rest/api/3/user/search", params={"query": "al"}).status_code == 401
    found = session.get("/rest/api/3/user/search", params={"query": "AL", "maxResults": "10"}).json()
    # Word prefixes, case-insensitive, active accounts only (the deactivated Alan Former is left out).
    assert [u["displayName"] for u in found] == ["Alice Andersen", "Alina Novak"]
    assert found[0]["accountId"] == DEMO_USER and found[0]["accountType"] == "atlassian"
    assert set(found[0]["avatarUrls"]) == {"16x16", "24x24", "32x32", "48x48"}
    assert all(url.startswith(f"{jira.base_url}/avatars/") for url in found[0]["avatarUrls"].values())
    assert session.get("/rest/api/3/user/search", params={"query": "ali", "maxResults": "1"}).json()[0]["active"]
    assert session.get("/rest/api/3/user/search").status_code == 400
    assert {(a.account_id, a.path) for a in jira.people.asked} >= {
        ("", "/rest/api/3/user/search"),
        ("557058:devhost-bob", "/rest/api/3/user/search"),
    }


def test_bulk_and_single_lookups(session):
    ids = [DEMO_USER, "557058:devhost-alan", "557058:nobody"]
    page = session.get("/rest/api/3/user/bulk", params={"accountId": ids, "maxResults": "50"}).json()
    assert [u["displayName"] for u in page["values"]] == ["Alice Andersen", "Alan Former"]
    assert page["values"][1]["active"] is False
    assert (page["total"], page["isLast"]) == (2, True)
    assert session.get("/rest/api/3/user/bulk").status_code == 400
    assert session.get("/rest/api/3/user", params={"accountId": DEMO_USER}).json()["displayName"] == "Alice Andersen"
    assert session.get("/rest/api/3/user", params={"accountId": "557058:nobody"}).status_code == 404


def test_avatars_are_served_by_the_stand_in(session):
    url = session.get("/rest/api/3/user", params={"accountId": DEMO_USER}).json()["avatarUrls"]["24x24"]
    avatar = session.get(url)
    assert avatar.status_code == 200
    assert avatar.headers["Content-Type"] == "image/svg+xml"
    assert b">AA</text>" in avatar.content and b"<script" not in avatar.content
    assert session.get(url.replace("/24.svg", "/25.svg")).status_code == 404
    assert session.get("/avatars/0000000000000000/24.svg").status_code == 404
