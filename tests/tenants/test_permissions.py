"""Who may do what (issue #16): Jira's answer decides, on every write, through every front door.

The stand-in Jira (devhost/jira.py) knows four kinds of user: Jira admin, project admin, editor, browse-only. Each
class of defect has its cases here: browse-only writes, anonymous viewers, template rights, auto-apply's author, a
disabled site on Forge, Jira unable to answer, and the cache that must not outlive 5 minutes.
"""

import json
import re
import secrets
import time
from urllib.parse import urlsplit

import pytest

from checklists import services
from checklists.models import Checklist, ChecklistChange, ChecklistItem, Template
from devhost.keys import connect_token, forge_token
from tenants import permissions
from tenants.models import Tenant, TenantState
from tenants.qsh import CONTEXT_QSH
from tests.conftest import ISSUE, Api, signed_install

pytestmark = pytest.mark.django_db

ADMIN, PROJECT_ADMIN, EDITOR, VIEWER = "557058:admin", "557058:pat", "557058:bob", "557058:carol"
INSTALLATION = "ari:cloud:ecosystem::installation/0a0b0c0d-0000-4000-8000-00000000a17f"
DOORS = ["panel", "connect", "forge"]


@pytest.fixture(autouse=True)
def people(standin):
    standin.default_role = "none"  # nobody has a right this module did not give
    standin.grant(ADMIN, "admin")
    standin.grant(PROJECT_ADMIN, "project-admin", projects={"10000"})
    standin.grant(EDITOR, "edit")
    standin.grant(VIEWER, "browse")
    return standin


def panel_fit(standin, settings, principal, **kw):
    """A FIT as Forge sends from the issue panel of INSTALLATION, whose Jira (apiBaseUrl) is the stand-in."""
    kw = {"issue": ISSUE, **kw}
    return forge_token(
        standin.forge_keys,
        app_id=settings.FORGE_APP_ID,
        installation_id=INSTALLATION,
        principal=principal,
        api_base_url=standin.base_url,
        **kw,
    )


@pytest.fixture
def door(client, standin, settings, request):
    """door(name, account) -> an Api calling as that user through one front door of the contract."""

    def make(name, account):
        if name == "panel":  # our panel token, minted by /connect/panel
            return Api(client, request.getfixturevalue("tenant"), account_id=account)
        if name == "connect":  # a Connect context JWT straight from Jira
            request.getfixturevalue("tenant")
            return Api(client, None, authorization="JWT " + standin.context_token(ISSUE, account_id=account))
        fit = panel_fit(standin, settings, account)
        headers = {"HTTP_X_FORGE_OAUTH_USER": standin.user_token(account)}
        return Api(client, None, authorization=f"Bearer {fit}", headers=headers)

    return make


def seed(api) -> tuple[str, str]:
    """One item and one site-wide template on the door's site, written by whoever `api` is (an editor)."""
    assert api.get().status_code == 200  # the site exists from here on (a Forge site is created on first sight)
    item = api.add("Existing step")
    assert item.status_code == 201, item.content
    tenant = Checklist.objects.get().tenant
    template = services.template_create(
        tenant=tenant, actor=services.Actor(ADMIN), data={"name": "Release", "text": "- [ ] Tag\n"}
    )
    return item.json()["id"], str(template.id)


WRITES = {
    "add item": lambda api, item, template: api.add("sneaky"),
    "edit item": lambda api, item, template: api.patch(item, text="sneaky"),
    "tick item": lambda api, item, template: api.patch(item, status="done"),
    "delete item": lambda api, item, template: api.delete(item),
    "reorder": lambda api, item, template: api.call("put", api.url("/order"), {"itemIds": [item]}),
    "text put": lambda api, item, template: api.put_text("- [x] sneaky\n"),
    "apply template": lambda api, item, template: api.call(
        "post", api.url("/apply-template"), {"templateId": template, "mode": "replace"}
    ),
}


def snapshot():
    return (
        list(ChecklistItem.objects.order_by("position").values_list("text", "status", "position")),
        list(Checklist.objects.values_list("version", flat=True)),
        ChecklistChange.objects.count(),
    )


# --- browse-only -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("write", sorted(WRITES))
@pytest.mark.parametrize("name", DOORS)
def test_a_browse_only_user_gets_403_on_every_write_and_nothing_changes(door, name, write):
    item, template = seed(door(name, EDITOR))
    before = snapshot()
    response = WRITES[write](door(name, VIEWER), item, template)
    assert response.status_code == 403, response.content
    assert response.json()["error"] == "forbidden"
    assert snapshot() == before


@pytest.mark.parametrize("name", DOORS)
def test_a_browse_only_user_reads_everything_and_is_told_the_panel_is_read_only(door, name):
    seed(door(name, EDITOR))
    viewer = door(name, VIEWER)
    checklist = viewer.get()
    assert checklist.status_code == 200
    assert [i["text"] for i in checklist.json()["items"]] == ["Existing step"]
    assert checklist.json()["permissions"] == {"edit": False, "manageTemplates": False}
    assert viewer.call("get", viewer.url("/text")).status_code == 200
    assert viewer.call("get", viewer.url("/history")).status_code == 200
    assert viewer.call("get", "/api/v1/templates").status_code == 200


@pytest.mark.parametrize("name", DOORS)
def test_an_editor_edits_and_is_told_so(door, name):
    item, template = seed(door(name, EDITOR))
    editor = door(name, EDITOR)
    assert editor.get().json()["permissions"] == {"edit": True, "manageTemplates": False}
    for write in sorted(set(WRITES) - {"delete item"}):  # the delete comes last: it removes the item
        response = WRITES[write](editor, item, template)
        assert response.status_code == (201 if write == "add item" else 200), (write, response.content)
        item = editor.get().json()["items"][0]["id"]
    assert editor.delete(item).status_code == 204


def test_the_right_is_per_issue(door, standin):
    """Edit in one project says nothing about another: the answer is asked and cached per issue."""
    standin.grant(EDITOR, "edit", projects={"20000"})  # ISSUE is in project 10000
    seed(door("panel", ADMIN))
    assert door("panel", EDITOR).add("not here").status_code == 403


# --- anonymous -----------------------------------------------------------------------------------------------------


def test_an_anonymous_viewer_of_a_public_issue_gets_a_read_only_panel(client, tenant, standin):
    seed(Api(client, tenant, account_id=EDITOR))
    checks_before = len(standin.permission_checks)
    panel_url = urlsplit(standin.panel_url(ISSUE, account_id=None))
    page = client.get(f"{panel_url.path}?{panel_url.query}")
    assert page.status_code == 200
    token = re.search(rb'name="herochecklist-token" content="([^"]+)"', page.content).group(1).decode()
    anonymous = Api(client, tenant, authorization=f"Bearer {token}")
    read = anonymous.get()
    assert read.status_code == 200 and read.json()["permissions"] == {"edit": False, "manageTemplates": False}
    before = snapshot()
    response = anonymous.add("anonymous write")
    assert response.status_code == 403, response.content
    assert snapshot() == before
    assert len(standin.permission_checks) == checks_before  # no one to ask Jira about


@pytest.mark.parametrize("write", sorted(WRITES))
def test_an_anonymous_context_token_reads_and_cannot_write(client, tenant, standin, write):
    item, template = seed(Api(client, tenant, account_id=EDITOR))
    anonymous = Api(client, None, authorization="JWT " + standin.context_token(ISSUE, account_id=None))
    assert anonymous.get().status_code == 200
    before = snapshot()
    assert WRITES[write](anonymous, item, template).status_code == 403
    assert snapshot() == before


def test_a_credential_not_bound_to_the_issue_reads_only_what_jira_lets_its_user_browse(client, tenant, standin):
    seed(Api(client, tenant, account_id=EDITOR))

    def unbound(account):  # a Connect context token without issue context (an integrator's call, say)
        token = connect_token(
            secret=standin.shared_secret, client_key=standin.client_key, qsh=CONTEXT_QSH, account_id=account
        )
        return Api(client, None, authorization=f"JWT {token}")

    for outsider in ("557058:nobody", None):  # no right in Jira; anonymous
        for suffix in ("", "/text", "/history"):
            response = unbound(outsider).get(suffix)
            assert response.status_code == 403, (outsider, suffix)
            assert "Existing step" not in response.content.decode()
    assert [i["text"] for i in unbound(VIEWER).get().json()["items"]] == ["Existing step"]
    assert unbound(VIEWER).add("x").status_code == 403
    assert unbound(EDITOR).add("x").status_code == 201


def test_the_automation_door_never_tells_whether_an_issue_key_the_caller_cannot_see_exists(client, tenant, standin):
    # The key is looked up as the app, which sees every issue: a 403 for a key that exists and a 404 for one that
    # does not would let anyone with a credential probe the site's issue keys.
    def by_key(api, key):
        return api.call("post", f"/api/v1/automation/issues/{key}/items", {"text": "x"})

    def unbound(account):
        token = connect_token(
            secret=standin.shared_secret, client_key=standin.client_key, qsh=CONTEXT_QSH, account_id=account
        )
        return Api(client, None, authorization=f"JWT {token}")

    bound = Api(client, None, authorization="JWT " + standin.context_token(ISSUE, account_id=EDITOR))
    answers = {key: by_key(bound, key) for key in ("DEMO-2", "DEMO-999")}  # another issue; no such issue
    assert {key: r.status_code for key, r in answers.items()} == {"DEMO-2": 403, "DEMO-999": 403}
    assert answers["DEMO-2"].json() == answers["DEMO-999"].json()
    outsider = unbound("557058:nobody")
    answers = {key: by_key(outsider, key) for key in ("DEMO-1", "DEMO-999")}  # one it may not browse; no such issue
    assert {key: r.status_code for key, r in answers.items()} == {"DEMO-1": 404, "DEMO-999": 404}
    assert answers["DEMO-1"].json() == answers["DEMO-999"].json()
    assert by_key(unbound(VIEWER), "DEMO-1").status_code == 403  # sees it, may not edit it: told so
    assert not ChecklistItem.objects.exists()
    assert by_key(bound, ISSUE["key"]).status_code == 200
    assert by_key(unbound(EDITOR), "DEMO-1").status_code == 200


# --- templates -----------------------------------------------------------------------------------------------------


def make_template(api, **fields):
    body = {"name": "Release", "text": "- [ ] Tag\n", **fields}
    return api.call("post", "/api/v1/templates", body)


def test_site_wide_templates_are_changed_by_jira_admins_only(client, tenant):
    admin, project_admin, editor = (Api(client, tenant, account_id=a) for a in (ADMIN, PROJECT_ADMIN, EDITOR))
    for outsider in (project_admin, editor):
        assert make_template(outsider).status_code == 403
    created = make_template(admin)
    assert created.status_code == 201
    url = f"/api/v1/templates/{created.json()['id']}"
    for outsider in (project_admin, editor):
        assert outsider.call("patch", url, {"name": "Hijacked"}).status_code == 403
        assert outsider.call("delete", url).status_code == 403
    assert Template.objects.get().name == "Release"
    assert admin.call("patch", url, {"name": "Release 2"}).status_code == 200
    assert admin.call("delete", url).status_code == 204


def test_project_templates_are_changed_by_that_projects_admins(client, tenant):
    pat, bob = Api(client, tenant, account_id=PROJECT_ADMIN), Api(client, tenant, account_id=EDITOR)
    assert make_template(bob, projectId="10000").status_code == 403
    assert make_template(pat, projectId="20000").status_code == 403  # not pat's project
    created = make_template(pat, projectId="10000")
    assert created.status_code == 201, created.content
    url = f"/api/v1/templates/{created.json()['id']}"
    assert bob.call("patch", url, {"name": "Hijacked"}).status_code == 403
    # Moving it out of pat's project (to another, or site-wide) needs the rights of the destination too.
    assert pat.call("patch", url, {"projectId": None}).status_code == 403
    assert pat.call("patch", url, {"projectId": "20000"}).status_code == 403
    assert Template.objects.get().project_id == "10000"
    assert pat.call("patch", url, {"name": "Release 2"}).status_code == 200
    assert bob.call("delete", url).status_code == 403
    assert pat.call("delete", url).status_code == 204
    # A Jira admin may change any project's templates.
    assert make_template(Api(client, tenant, account_id=ADMIN), projectId="20000").status_code == 201


def test_a_template_project_that_is_not_an_id_is_422_naming_the_field(client, tenant):
    response = make_template(Api(client, tenant, account_id=ADMIN), projectId="10000 OR 1=1")
    assert response.status_code == 422
    assert response.json()["fields"] == {"projectId": "must be a numeric Jira id, or null"}


def test_everyone_who_may_edit_applies_templates_and_browse_only_does_not(client, tenant):
    template = make_template(Api(client, tenant, account_id=ADMIN)).json()["id"]
    body = {"templateId": template, "mode": "append"}
    bob, carol = Api(client, tenant, account_id=EDITOR), Api(client, tenant, account_id=VIEWER)
    assert carol.call("post", carol.url("/apply-template"), body).status_code == 403
    assert bob.call("post", bob.url("/apply-template"), body).status_code == 200
    assert [i.text for i in ChecklistItem.objects.all()] == ["Tag"]


@pytest.mark.parametrize("name", DOORS)
def test_a_projects_templates_are_read_only_by_who_may_see_that_project(door, name, standin):
    dave = "557058:dave"  # edits in project 10000 (the issue's), cannot see project 20000
    standin.grant(dave, "edit", projects={"10000"}, elsewhere="none")
    reader = door(name, dave)
    assert reader.get().status_code == 200  # the site exists from here on
    tenant = Tenant.objects.get()
    made = {
        label: str(services.template_create(tenant=tenant, actor=services.Actor(ADMIN), data=data).id)
        for label, data in {
            "site": {"name": "Site", "text": "- [ ] s\n"},
            "ours": {"name": "Ours", "text": "- [ ] o\n", "project_id": "10000"},
            "hidden": {"name": "Hidden", "text": "- [ ] h\n", "project_id": "20000"},
        }.items()
    }

    def names(response):
        assert response.status_code == 200, response.content
        body = response.json()
        return sorted(t["name"] for t in (body["templates"] if isinstance(body, dict) else body))

    assert names(reader.call("get", "/api/v1/templates")) == ["Site"]
    assert names(reader.call("get", "/api/v1/templates?projectId=10000")) == ["Ours", "Site"]
    assert names(reader.call("get", "/api/v1/templates?projectId=20000")) == ["Site"]
    assert names(reader.call("get", "/api/v1/manager?projectId=20000")) == ["Site"]
    assert reader.call("get", f"/api/v1/templates/{made['ours']}").status_code == 200
    hidden = reader.call("get", f"/api/v1/templates/{made['hidden']}")
    assert hidden.status_code == 404 and "Hidden" not in hidden.content.decode()
    # Applying it is as if it did not exist (404, not the 422 of a template that does not fit the issue).
    applied = reader.call("post", reader.url("/apply-template"), {"templateId": made["hidden"], "mode": "append"})
    assert applied.status_code == 404
    assert not ChecklistItem.objects.filter(text="h").exists()
    assert names(door(name, ADMIN).call("get", "/api/v1/templates")) == ["Hidden", "Ours", "Site"]


def test_a_template_hidden_from_a_user_who_may_not_edit_is_as_missing_as_no_template(client, tenant, standin):
    """A user refused the write (browse only) learns nothing of a template they may not read: the answer for it is
    the answer for an id no template has, not a 403 that says it exists."""
    erin = "557058:erin"  # browses project 10000 (the issue's), cannot see project 20000
    standin.grant(erin, "browse", projects={"10000"}, elsewhere="none")
    hidden = services.template_create(
        tenant=tenant, actor=services.Actor(ADMIN), data={"name": "Hidden", "text": "- [ ] h\n", "project_id": "20000"}
    )
    reader = Api(client, tenant, account_id=erin)
    answers = [
        reader.call("post", reader.url("/apply-template"), {"templateId": template_id, "mode": "append"})
        for template_id in (str(hidden.id), "00000000-0000-4000-8000-000000000000")
    ]
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].json() == answers[1].json()
    assert not ChecklistItem.objects.exists()


def test_a_site_token_reads_every_template_and_a_user_jira_cannot_answer_for_only_the_site_wide_ones(
    client, tenant, standin
):
    from tenants.site_tokens import site_token_create

    admin = Api(client, tenant, account_id=ADMIN)
    for fields in ({}, {"projectId": "10000", "name": "Project"}):
        assert make_template(admin, **fields).status_code == 201
    site_token = site_token_create(tenant=tenant, name="CI", scope="read", created_by=ADMIN)[1]
    as_token = Api(client, None, authorization=f"Bearer {site_token}")
    assert sorted(t["name"] for t in as_token.call("get", "/api/v1/templates").json()) == ["Project", "Release"]
    standin.permissions_fault = "down"  # fail closed: no project's templates without Jira's word
    editor = Api(client, tenant, account_id=EDITOR)
    listed = editor.call("get", "/api/v1/templates?projectId=10000")
    assert [t["name"] for t in listed.json()] == ["Release"]
    project = Template.objects.get(name="Project")
    assert editor.call("get", f"/api/v1/templates/{project.id}").status_code == 404


def test_an_anonymous_viewer_reads_no_template(client, tenant, standin):
    template = make_template(Api(client, tenant, account_id=ADMIN)).json()["id"]
    anonymous = Api(client, None, authorization="JWT " + standin.context_token(ISSUE, account_id=None))
    assert anonymous.call("get", "/api/v1/templates").json() == []
    assert anonymous.call("get", "/api/v1/manager").json()["templates"] == []
    assert anonymous.call("get", f"/api/v1/templates/{template}").status_code == 404


def test_auto_apply_writes_as_the_app_not_as_the_viewer_who_opened_the_panel(client, tenant, standin):
    created = make_template(Api(client, tenant, account_id=ADMIN), autoApply=True, projectId="10000")
    assert created.status_code == 201
    opened = Api(client, tenant, account_id=VIEWER).get()
    assert opened.status_code == 200
    assert [i["text"] for i in opened.json()["items"]] == ["Tag"]
    assert opened.json()["permissions"]["edit"] is False
    assert set(ChecklistItem.objects.values_list("created_by", "updated_by")) == {("app", "app")}
    assert set(ChecklistChange.objects.values_list("actor_account_id", flat=True)) == {"app"}
    history = Api(client, tenant, account_id=VIEWER).get("/history").json()
    assert {h["actorAccountId"] for h in history} == {"app"}


# --- a disabled site, on every door --------------------------------------------------------------------------------


def forge_call(client, standin, settings, *, module_key="herochecklist-panel", path=None, body=None):
    if module_key == "herochecklist-panel":
        token = panel_fit(standin, settings, EDITOR)
    else:
        token = panel_fit(standin, settings, None, issue=None, module_key=module_key)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_X_FORGE_OAUTH_USER": standin.user_token(EDITOR)}
    if path is None:
        return client.post(
            "/api/v1/issues/10001/checklist/items", data={"text": "x"}, content_type="application/json", **headers
        )
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def test_a_disabled_site_is_refused_on_forge_too(client, standin, settings):
    # A Connect site that runs on Forge: one tenant, reached by its clientKey and by its installationId.
    payload = standin.installed_payload(installationId=INSTALLATION)
    standin.shared_secret = secrets.token_urlsafe(48)
    payload["sharedSecret"] = standin.shared_secret
    assert signed_install(client, standin, payload=payload).status_code == 204
    assert forge_call(client, standin, settings).status_code == 201
    disable = connect_token(
        secret=standin.shared_secret, client_key=standin.client_key, method="POST", path="/connect/disabled"
    )
    assert client.post("/connect/disabled", HTTP_AUTHORIZATION=f"JWT {disable}").status_code == 204
    assert Tenant.objects.get().state == TenantState.DISABLED
    before = snapshot()
    tenant = Tenant.objects.get()
    doors = {
        "forge api": forge_call(client, standin, settings),
        "forge issue deleted": forge_call(
            client,
            standin,
            settings,
            module_key="herochecklist-issue-deleted",
            path="/forge/events/issue-deleted",
            body={"issue": {"id": "10001"}},
        ),
        "panel token": Api(client, tenant, account_id=EDITOR).add("x"),
        "connect context token": Api(client, None, authorization="JWT " + standin.context_token(ISSUE)).add("x"),
    }
    panel = urlsplit(standin.panel_url(ISSUE))
    doors["connect panel"] = client.get(f"{panel.path}?{panel.query}")
    assert {name: r.status_code for name, r in doors.items()} == dict.fromkeys(doors, 401)
    assert snapshot() == before
    # Its lifecycle still reaches it (re-enabling is how it comes back), like Connect's.
    enable = connect_token(
        secret=standin.shared_secret, client_key=standin.client_key, method="POST", path="/connect/enabled"
    )
    assert client.post("/connect/enabled", HTTP_AUTHORIZATION=f"JWT {enable}").status_code == 204
    assert forge_call(client, standin, settings).status_code == 201


# --- Jira cannot answer: read-only ---------------------------------------------------------------------------------


def test_jira_answering_an_error_means_read_only_and_recovery_follows(client, tenant, standin, settings):
    settings.PERMISSION_FAILURE_CACHE_SECONDS = 10
    bob = Api(client, tenant, account_id=EDITOR)
    standin.permissions_fault = "down"
    refused = bob.add("during the outage")
    # Refused (fail closed), and the answer says why: Jira did not answer, try again (not a missing right).
    assert refused.status_code == 403 and refused.json()["jiraAnswered"] is False
    assert refused["Retry-After"] == "10" and "try again" in refused.json()["detail"]
    assert bob.get().json()["permissions"] == {"edit": False, "manageTemplates": False}
    # The failure is remembered briefly: an outage does not cost one more outbound call per request.
    assert len(standin.permission_checks) == 1
    standin.permissions_fault = None
    settings.PERMISSION_FAILURE_CACHE_SECONDS = 0  # as if those seconds had passed
    assert bob.add("after the outage").status_code == 201
    assert list(ChecklistItem.objects.values_list("text", flat=True)) == ["after the outage"]


@pytest.mark.parametrize("fault", ["slow", "garbage"])
def test_a_slow_or_garbled_answer_means_read_only(client, tenant, standin, settings, fault):
    settings.PERMISSION_CHECK_TIMEOUT_SECONDS = 0.5
    standin.permissions_fault = fault
    standin.permissions_delay = 5.0
    bob = Api(client, tenant, account_id=EDITOR)
    started = time.monotonic()
    assert bob.add("unchecked").status_code == 403
    assert time.monotonic() - started < 4.5  # we gave up at our timeout, not when Jira finally answered
    assert not ChecklistItem.objects.exists()


@pytest.mark.parametrize(
    "answer",
    [
        {"globalPermissions": "ADMINISTER", "projectPermissions": []},  # "ADMINISTER" in "ADMINISTER": a substring
        {"globalPermissions": [], "projectPermissions": [{"permission": "EDIT_ISSUES", "issues": "10001"}]},
        {"globalPermissions": [], "projectPermissions": [{"permission": "EDIT_ISSUES", "issues": {"10001": 1}}]},
        {"globalPermissions": [], "projectPermissions": {"permission": "EDIT_ISSUES", "issues": [10001]}},
    ],
)
def test_an_answer_of_another_shape_grants_nothing(client, tenant, standin, answer):
    """JSON that is not Jira's shape (a proxy's, a broken answer) is no answer: read-only, as for garbage. A string
    where Jira sends a list was searched as a string, so "ADMINISTER" in it made the user a Jira admin (site-wide
    templates), and an issue id found in a string of digits (or among a dict's keys) granted editing."""
    standin.permissions_body = json.dumps(answer).encode()
    carol = Api(client, tenant, account_id=VIEWER)  # Jira would answer: may browse, nothing more
    refused = carol.add("unchecked")
    assert refused.status_code == 403 and refused.json()["jiraAnswered"] is False
    assert make_template(carol).status_code == 403
    assert not ChecklistItem.objects.exists() and not Template.objects.exists()


def test_an_unreachable_jira_means_read_only(client, tenant, closed_port):
    tenant.base_url = f"http://127.0.0.1:{closed_port}"  # a real refused connection, nothing listens there
    tenant.save()
    bob = Api(client, tenant, account_id=EDITOR)
    refused = bob.add("nobody to ask")
    assert refused.status_code == 403 and refused.json()["jiraAnswered"] is False
    assert bob.get().json()["permissions"]["edit"] is False
    assert not ChecklistItem.objects.exists()


def test_a_jira_trickling_its_answer_means_read_only_at_the_checks_deadline(client, tenant, trickle):
    # A byte every 20 ms, never idle as long as a read timeout: the check's deadline (PERMISSION_CHECK_TIMEOUT_SECONDS,
    # for all of it) ends it, and the request answers as for a Jira that does not answer.
    tenant.base_url = trickle.base_url
    tenant.save()
    refused = Api(client, tenant, account_id=EDITOR).add("unchecked")
    assert refused.status_code == 403 and refused.json()["jiraAnswered"] is False
    assert trickle.ended() == ["client"]  # we hung up; the server would have gone on for 15 s
    assert not ChecklistItem.objects.exists()


def test_a_forge_call_without_the_users_token_nor_a_system_token_is_read_only(client, standin, settings):
    # Nothing to ask Jira with (no lifecycle brought the site's system token): read-only. With one, the app asks
    # (tests/tenants/test_forge_permissions.py).
    fit = panel_fit(standin, settings, EDITOR)
    api = Api(client, None, authorization=f"Bearer {fit}")
    assert api.get().json()["permissions"]["edit"] is False
    assert api.add("no user token").status_code == 403
    assert standin.permission_checks == []


def test_a_user_token_jira_does_not_accept_grants_nothing(client, standin, settings):
    fit = panel_fit(standin, settings, EDITOR)
    api = Api(client, None, authorization=f"Bearer {fit}", headers={"HTTP_X_FORGE_OAUTH_USER": "user-made-up"})
    assert api.add("made-up token").status_code == 403


# --- the cache: per user, at most 5 minutes ------------------------------------------------------------------------


def test_the_answer_is_cached_then_a_revoked_right_stops_working_when_the_cache_expires(
    client, tenant, standin, settings
):
    settings.PERMISSION_CACHE_SECONDS = 300
    bob = Api(client, tenant, account_id=EDITOR)
    assert bob.add("one").status_code == 201
    assert bob.add("two").status_code == 201
    assert len(standin.permission_checks) == 1  # the second write cost a cache read, not a Jira call
    standin.grant(EDITOR, "browse")  # a Jira admin takes Bob's right away
    assert bob.add("three (cached right)").status_code == 201
    settings.PERMISSION_CACHE_SECONDS = 0  # the entry's age now exceeds the setting
    refused = bob.add("four")
    assert refused.status_code == 403 and "jiraAnswered" not in refused.json() and "Retry-After" not in refused
    assert len(standin.permission_checks) == 2
    # Another user's answer is their own: Carol is asked about, not given Bob's cached answer.
    assert Api(client, tenant, account_id=VIEWER).add("five").status_code == 403
    assert len(standin.permission_checks) == 3


def test_a_cached_answer_is_never_used_for_more_than_5_minutes(client, tenant, standin, settings, monkeypatch):
    settings.PERMISSION_CACHE_SECONDS = 3600  # more than the rule allows: capped at 300
    bob = Api(client, tenant, account_id=EDITOR)
    assert bob.add("one").status_code == 201
    standin.grant(EDITOR, "browse")

    class Clock:  # only the permission module's clock moves on: 301 s later
        @staticmethod
        def time():
            return time.time() + 301

    monkeypatch.setattr(permissions, "time", Clock)
    assert bob.add("after 301 seconds").status_code == 403
    assert len(standin.permission_checks) == 2


def test_the_setting_itself_is_capped_at_5_minutes(run_django):
    result = run_django(
        "from django.conf import settings; print(settings.PERMISSION_CACHE_SECONDS)",
        {"PERMISSION_CACHE_SECONDS": "86400"},
        setup=False,  # the settings module alone: no apps to load
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "300"
