"""The site's own statuses (beside the five built in) and the template manager's API: who may change them, the
garbage they refuse, and what a custom status does to text mode, progress, the Jira property and history."""

import jwt
import pytest

from checklists.models import Checklist, ChecklistChange, SiteStatus, Template
from checklists.sync import checklist_progress_push
from tenants.auth import PANEL_AUDIENCE, PANEL_ISSUER
from tenants.descriptor import PROGRESS_PROPERTY
from tests.conftest import Api, contract_part, on_standin

pytestmark = pytest.mark.django_db

ALICE, BOB, PAT = "557058:alice", "557058:bob", "557058:pat"


@pytest.fixture(autouse=True)
def roles(standin):
    standin.grant(ALICE, "admin")
    standin.grant(BOB, "edit")
    standin.grant(PAT, "project-admin", projects=["10000"])


def post(api, path, body):
    return api.call("post", f"/api/v1{path}", body)


def make_status(api, **fields):
    return post(api, "/statuses", {"name": "In review", **fields})


def test_an_admin_defines_changes_and_removes_a_status_and_the_panel_gets_them_on_first_render(api):
    created = make_status(api, color="#6554C0")
    assert created.status_code == 201, created.content
    assert created.json() == {"key": "in_review", "name": "In review", "color": "#6554c0", "countsAsDone": False}
    assert make_status(api, name="Shipped", key="shipped", countsAsDone=True).status_code == 201
    listed = api.call("get", "/api/v1/statuses").json()
    assert [s["key"] for s in listed] == ["in_review", "shipped"]
    assert api.get().json()["statuses"] == listed  # the panel's one call carries them
    patched = api.call("patch", "/api/v1/statuses/in_review", {"name": "Review", "color": "#00875a"})
    assert patched.json() == {"key": "in_review", "name": "Review", "color": "#00875a", "countsAsDone": False}
    assert api.call("delete", "/api/v1/statuses/in_review").status_code == 204
    assert list(SiteStatus.objects.values_list("key", flat=True)) == ["shipped"]


@pytest.mark.parametrize(
    ("body", "bad"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"name": "line\nbreak"}, "name"),
        ({"name": "ok", "key": "done"}, "key"),
        ({"name": "ok", "key": "Review"}, "key"),
        ({"name": "ok", "key": "x"}, "key"),
        ({"name": "ok", "key": "a" * 17}, "key"),
        ({"name": "ok", "color": "red"}, "color"),
        ({"name": "ok", "countsAsDone": "yes"}, "countsAsDone"),
        ({"name": "ok", "extra": 1}, "extra"),
        ({"name": "!!!"}, "key"),  # no key can be made from it
        ({"name": 7}, "name"),
    ],
)
def test_garbage_statuses_are_422_naming_the_field(api, body, bad):
    response = post(api, "/statuses", body)
    assert response.status_code == 422, response.content
    assert bad in response.json()["fields"]
    assert not SiteStatus.objects.exists()


def test_oversized_bodies_are_413_and_limits_are_422(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    huge = {"name": "x" * 20_000}
    assert post(api, "/statuses", huge).status_code == 413
    assert post(api, "/templates", {"name": "t", "text": "- [ ] a\n" * 3000}).status_code == 413
    for n in range(20):
        assert make_status(api, name=f"s{n}", key=f"s{n:02d}").status_code == 201
    over = make_status(api, name="one more", key="s99")
    assert over.status_code == 422 and "statuses" in over.json()["fields"]
    taken = make_status(api, key="s01")
    assert taken.status_code == 422


def test_people_who_are_not_jira_admins_may_read_statuses_but_not_change_them(client, tenant, api):
    make_status(api, key="review")
    for who in (BOB, PAT):
        other = Api(client, tenant, account_id=who)
        assert other.call("get", "/api/v1/statuses").status_code == 200
        assert make_status(other, key="mine").status_code == 403
        assert other.call("patch", "/api/v1/statuses/review", {"name": "x"}).status_code == 403
        assert other.call("delete", "/api/v1/statuses/review").status_code == 403
    assert list(SiteStatus.objects.values_list("key", "name")) == [("review", "In review")]
    # Nor templates beyond what Jira lets them: Bob none, Pat his project's only.
    bob, pat = Api(client, tenant, account_id=BOB), Api(client, tenant, account_id=PAT)
    assert post(bob, "/templates", {"name": "t", "text": "- [ ] a", "projectId": "10000"}).status_code == 403
    assert post(pat, "/templates", {"name": "t", "text": "- [ ] a"}).status_code == 403
    assert post(pat, "/templates", {"name": "t", "text": "- [ ] a", "projectId": "10000"}).status_code == 201
    assert post(pat, "/templates", {"name": "t", "text": "- [ ] a", "projectId": "20000"}).status_code == 403


def test_another_sites_statuses_are_out_of_reach(client, tenant, other_tenant, standin, api):
    charlie = Api(client, on_standin(other_tenant, standin), account_id="557058:charlie")
    standin.grant("557058:charlie", "admin")
    assert make_status(charlie, key="theirs").status_code == 201
    assert api.call("get", "/api/v1/statuses").json() == []
    assert api.call("patch", "/api/v1/statuses/theirs", {"name": "mine now"}).status_code == 404
    assert api.call("delete", "/api/v1/statuses/theirs").status_code == 404
    # Their status is not a status here: not for an item, not in text mode.
    item = api.add("x").json()
    assert api.patch(item["id"], status="theirs").status_code == 422
    assert api.put_text("- [theirs] x\n").status_code == 422
    assert SiteStatus.objects.get().name == "In review"


def test_a_forged_or_expired_token_is_401(api, tenant):
    forged = jwt.encode(
        {"iss": PANEL_ISSUER, "aud": PANEL_AUDIENCE, "sub": ALICE, "tid": str(tenant.id), "issue_id": "10001"},
        "not-our-key",
        algorithm="HS256",
    )
    for authorization in (f"Bearer {forged}", "Bearer garbage", "JWT garbage"):
        intruder = Api(api.client, tenant, authorization=authorization)
        assert make_status(intruder, key="evil").status_code == 401
        assert intruder.call("get", "/api/v1/manager").status_code == 401
        assert intruder.call("delete", "/api/v1/statuses/evil").status_code == 401
    assert not SiteStatus.objects.exists()


def test_a_custom_status_round_trips_through_text_mode_and_counts_as_done_when_it_says_so(api):
    make_status(api, name="In review", key="review")
    make_status(api, name="Shipped", key="shipped", countsAsDone=True)
    text = "## Release\n- [review] check the diff\n- [shipped]? tell the team\n- [ ] tag\n"
    written = api.put_text(text).json()
    assert [i["status"] for i in written["items"]] == ["todo", "review", "shipped", "todo"]
    assert written["progress"] == {"done": 1, "total": 3, "mandatoryOpen": 2, "percent": 33, "complete": False}
    got = api.get("/text")
    assert got.content.decode() == text
    again = api.put_text(got.content.decode())
    assert again.json()["version"] == written["version"]  # nothing changed: no new version, no history
    assert api.put_text("- [nope] x\n").json()["fields"] == {
        "line 1": "unknown status box [nope]; use one of [ ] [~] [x] [-] [!] or a status of this site"
    }
    # A built-in status by name works in a box too, and is written back as its box.
    assert [i["status"] for i in api.put_text("- [done] a\n").json()["items"]] == ["done"]
    item = api.add("via the API", status="shipped").json()
    assert item["status"] == "shipped"
    assert api.get().json()["progress"]["done"] == 2


def test_the_jira_property_counts_a_custom_done_status_and_follows_when_that_changes(api, standin):

    make_status(api, name="Shipped", key="shipped", countsAsDone=True)
    api.put_text("- [shipped] a\n- [ ] b\n")
    assert api.get().json()["progress"]["done"] == 1
    checklist = Checklist.objects.get()
    assert checklist_progress_push(checklist_id=checklist.id) is True
    pushed = {"done": 1, "total": 2, "percent": 50, "mandatoryOpen": 1, "complete": "false"}
    assert contract_part(standin.property("10001", PROGRESS_PROPERTY)) == pushed
    api.call("patch", "/api/v1/statuses/shipped", {"countsAsDone": False})
    checklist.refresh_from_db()
    assert (checklist.done_count, checklist.mandatory_open_count) == (0, 2)
    assert checklist.property_synced_version < checklist.version  # behind: the push (or the sweep) rewrites it
    assert api.get().json()["progress"]["done"] == 0
    assert checklist_progress_push(checklist_id=checklist.id) is True
    assert standin.property("10001", PROGRESS_PROPERTY)["done"] == 0


def test_removing_a_status_in_use_asks_where_its_items_go_then_moves_them_in_one_write(api):
    make_status(api, name="In review", key="review")
    api.put_text("- [review] a\n- [ ] b\n- [review] c\n")
    template = post(api, "/templates", {"name": "T", "text": "- [review] look\n- [ ] other\n"}).json()
    version = api.get().json()["version"]
    refused = api.call("delete", "/api/v1/statuses/review")
    assert refused.status_code == 409
    assert (refused.json()["inUse"], refused.json()["templates"]) == (2, 1)
    assert api.call("delete", "/api/v1/statuses/review?moveTo=review").status_code == 422
    assert api.call("delete", "/api/v1/statuses/review?moveTo=unknown").status_code == 422
    moved = api.call("delete", "/api/v1/statuses/review?moveTo=done")
    assert moved.status_code == 204, moved.content
    after = api.get().json()
    assert [i["status"] for i in after["items"]] == ["done", "todo", "done"]
    assert after["version"] == version + 1 and after["progress"]["done"] == 2
    history = ChecklistChange.objects.filter(version=version + 1, source="status")
    assert sorted(c.changes["status"]["after"] for c in history) == ["done", "done"]
    assert Template.objects.get(id=template["id"]).text == "- [x] look\n- [ ] other\n"
    assert not SiteStatus.objects.exists()


def test_the_managers_first_render_shows_scope_and_rights(client, tenant, api):
    post(api, "/templates", {"name": "site", "text": "- [ ] a"})
    post(api, "/templates", {"name": "demo", "text": "- [ ] a", "projectId": "10000"})
    post(api, "/templates", {"name": "other", "text": "- [ ] a", "projectId": "20000"})
    make_status(api, key="review")
    everything = api.call("get", "/api/v1/manager").json()
    assert [t["name"] for t in everything["templates"]] == ["demo", "other", "site"]
    assert everything["permissions"] == {"manageSite": True, "manageProject": False}
    assert [s["key"] for s in everything["statuses"]] == ["review"]
    pat = Api(client, tenant, account_id=PAT).call("get", "/api/v1/manager?projectId=10000").json()
    assert [t["name"] for t in pat["templates"]] == ["demo", "site"]
    assert pat["permissions"] == {"manageSite": False, "manageProject": True}
    bob = Api(client, tenant, account_id=BOB).call("get", "/api/v1/manager?projectId=10000").json()
    assert bob["permissions"] == {"manageSite": False, "manageProject": False}
    assert api.call("get", "/api/v1/manager?projectId=DEMO").status_code == 422


def test_the_connect_manager_page_hands_out_a_token_that_names_no_issue(client, tenant, standin, settings):
    """/connect/templates (jiraProjectAdminTabPanels, adminPages): qsh-signed by Jira, it mints a token for the
    manager's calls; that token is refused when forged, and reaches issues only as far as Jira lets its user browse."""
    import re

    from devhost.jira_admin import manager_url

    standin.app_base_url = ""
    page = client.get(manager_url(standin, account_id=PAT, project_id="10000"))
    assert page.status_code == 200, page.content
    token = re.search(rb'name="herochecklist-token" content="([^"]+)"', page.content).group(1).decode()
    manager = Api(client, tenant, authorization=f"Bearer {token}")
    assert manager.call("get", "/api/v1/manager?projectId=10000").json()["permissions"]["manageProject"] is True
    assert post(manager, "/templates", {"name": "t", "text": "- [ ] a", "projectId": "10000"}).status_code == 201
    claims = jwt.decode(token, options={"verify_signature": False})
    assert "issue_id" not in claims and claims["aud"] == "herochecklist:admin"
    forged = jwt.encode({**claims, "sub": ALICE}, "x" * 32, algorithm="HS256")
    assert Api(client, tenant, authorization=f"Bearer {forged}").call("get", "/api/v1/manager").status_code == 401
    # The URL is Jira's to sign: a changed projectId breaks the qsh, and an anonymous viewer gets no page.
    tampered = manager_url(standin, account_id=PAT, project_id="10000").replace("projectId=10000", "projectId=10001")
    assert client.get(tampered).status_code == 401
    assert client.get(manager_url(standin, account_id="", project_id="")).status_code == 401
