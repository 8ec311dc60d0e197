"""What the manager and the panel show of the site's Jira setup (checklists/jira_facts.py), from the Jira stand-in."""

import pytest

from checklists import jira_facts
from checklists.services import Actor, template_create
from tests.conftest import Api

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _nothing_known():
    jira_facts.forget_facts()
    yield
    jira_facts.forget_facts()


@pytest.fixture(autouse=True)
def alice_administers_jira(standin):
    standin.grant("557058:alice", "admin")  # the manager's user: issue type names are for who may change templates


def test_the_manager_names_the_sites_issue_types(client, tenant, standin):
    template_create(
        tenant=tenant, actor=Actor("557058:alice"), data={"name": "T", "text": "- [ ] a", "issue_type_id": "10003"}
    )
    answer = Api(client, tenant).call("get", "/api/v1/manager").json()
    assert answer["issueTypes"] == {"10001": "Bug", "10002": "Task", "10003": "Story"}
    assert [t["issueTypeId"] for t in answer["templates"]] == ["10003"]  # the template keeps the id


def test_only_who_may_change_templates_is_told_the_sites_issue_types(client, tenant, standin):
    """The names are asked as the app, which sees every project's issue types: a user who may only browse or edit
    issues is not told them (Jira's own list for them holds only their projects' types), nor is the app asked."""
    standin.grant("557058:bob", "edit")
    standin.grant("557058:pat", "project-admin", projects=["10000"])
    bob = Api(client, tenant, account_id="557058:bob").call("get", "/api/v1/manager?projectId=10000").json()
    assert bob["permissions"] == {"manageSite": False, "manageProject": False} and bob["issueTypes"] == {}
    assert not [c for c in standin.recorded if c.path.startswith("/rest/api/3/issuetype")]
    pat = Api(client, tenant, account_id="557058:pat").call("get", "/api/v1/manager?projectId=10000").json()
    assert pat["permissions"]["manageProject"] is True and pat["issueTypes"]["10003"] == "Story"


def test_with_jira_down_the_manager_still_answers_without_names(client, tenant, standin):
    standin.fail_next = [503]
    response = Api(client, tenant).call("get", "/api/v1/manager")
    assert response.status_code == 200 and response.json()["issueTypes"] == {}
    # Not remembered: the next render asks again, and names them.
    assert Api(client, tenant).call("get", "/api/v1/manager").json()["issueTypes"]["10003"] == "Story"


def test_an_odd_issue_type_answer_names_nothing_it_cannot_read(client, tenant, standin):
    standin.issue_types = [{"id": "10002", "name": "Task"}, {"id": "DROP", "name": "x"}, {"id": "10004", "name": 7}]
    assert jira_facts.issue_type_names(tenant) == {"10002": "Task"}


def _panel_config(client, standin) -> dict:
    import json
    from urllib.parse import urlsplit

    from devhost.jira import DEMO_ISSUES

    url = urlsplit(standin.panel_url(DEMO_ISSUES[0]))
    response = client.get(f"{url.path}?{url.query}")
    assert response.status_code == 200, response.content[:300]
    text = response.content.decode()
    start = text.index('id="herochecklist-config"')
    return json.loads(text[text.index(">", start) + 1 : text.index("</script>", start)])


def test_the_panel_is_told_whether_its_project_is_a_service_desk(client, tenant, standin):
    assert _panel_config(client, standin)["serviceDesk"] is True
    jira_facts.forget_facts()
    standin.project_types["10000"] = "software"
    assert _panel_config(client, standin)["serviceDesk"] is False
    jira_facts.forget_facts()
    standin.fail_next = [503]  # Jira does not say: nothing told, the panel offers the toggle as before
    assert "serviceDesk" not in _panel_config(client, standin)
    # The item field and its API stay as they are, in any project.
    from tests.conftest import Api

    api = Api(client, tenant)
    item = api.add("Shown anyway").json()
    assert api.patch(item["id"], visibleToCustomer=True).json()["visibleToCustomer"] is True


def test_a_jira_too_slow_to_answer_is_waited_for_once_a_minute_not_on_every_panel_load(client, tenant, standin):
    """The panel's page waits on the project lookup (LOOKUP_TIMEOUT_SECONDS) the first time; while Jira is slow,
    the loads after it go on without asking (UNANSWERED_SECONDS), instead of each waiting the timeout again."""
    import threading

    released = threading.Event()
    standin.stall = ("/rest/api/3/project/", released)
    try:
        assert "serviceDesk" not in _panel_config(client, standin)  # unknown: the toggle offered as before
        assert "serviceDesk" not in _panel_config(client, standin)
        asked = [c for c in standin.recorded if c.path.startswith("/rest/api/3/project/")]
        assert len(asked) == 1
    finally:
        released.set()
        standin.stall = None
    jira_facts.forget_facts()  # the minute over: asked again, and answered
    assert _panel_config(client, standin)["serviceDesk"] is True
