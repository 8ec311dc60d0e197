"""Red team: applying a project's template by id through a credential Jira bound to no issue (the template manager's
admin token, a site API token, a Connect context token from a page without an issue). Such a credential does not say
which project the issue is in, and an issue without a checklist has none stored either, so the rule "a project's
template is for that project's issues only" had nothing to compare with: a template of any project the caller could
read was applied to any issue they could edit. The rule holds for apply-by-name (resolved through Jira); by id too."""

import pytest

from checklists.models import Template
from tenants.auth import mint_admin_token
from tenants.site_tokens import site_token_create
from tests.conftest import ISSUE, Api

pytestmark = pytest.mark.django_db

OTHER_PROJECT = "20000"  # a project of the caller's own: in Jira Cloud any user may create a team-managed one
MALLORY = "557058:mallory"


def apply(client, authorization, template, issue_id=ISSUE["id"]):
    return client.post(
        f"/api/v1/issues/{issue_id}/checklist/apply-template",
        data={"templateId": str(template.id), "mode": "append"},
        content_type="application/json",
        HTTP_AUTHORIZATION=authorization,
    )


@pytest.fixture
def theirs(tenant):
    return Template.objects.create(tenant=tenant, name="Theirs", text="- [ ] pwned\n", project_id=OTHER_PROJECT)


def test_the_template_managers_token_applies_no_template_of_another_project(client, tenant, standin, theirs):
    standin.grant(MALLORY, "project-admin", projects={OTHER_PROJECT}, elsewhere="edit")
    token = "Bearer " + mint_admin_token(tenant=tenant, account_id=MALLORY)

    response = apply(client, token, theirs)

    assert response.status_code == 422, response.content
    assert response.json()["fields"] == {"templateId": "is a template of another project or issue type"}
    assert Api(client, tenant).get().json()["items"] == []


def test_a_site_token_applies_no_template_of_another_project_either(client, tenant, standin, theirs):
    token = site_token_create(tenant=tenant, name="Automation", scope="write", created_by="557058:alice")[1]

    response = apply(client, f"Bearer {token}", theirs)

    assert response.status_code == 422, response.content
    assert Api(client, tenant).get().json()["items"] == []


def test_a_template_of_the_issues_own_project_still_applies_through_them(client, tenant, standin):
    ours = Template.objects.create(tenant=tenant, name="Ours", text="- [ ] step\n", project_id=ISSUE["projectId"])
    standin.grant(MALLORY, "project-admin", projects={ISSUE["projectId"]})
    token = "Bearer " + mint_admin_token(tenant=tenant, account_id=MALLORY)

    response = apply(client, token, ours)

    assert response.status_code == 200, response.content
    assert [i["text"] for i in response.json()["items"]] == ["step"]
    assert response.json()["projectId"] == ISSUE["projectId"]  # what Jira said of the issue is kept with it


def test_when_jira_cannot_say_the_issues_project_a_scoped_template_is_not_applied(client, tenant, standin, theirs):
    """Fail closed: an issue Jira does not know (or will not say) is in no project a scoped template could fit."""
    standin.grant(MALLORY, "project-admin", projects={OTHER_PROJECT}, elsewhere="edit")
    token = "Bearer " + mint_admin_token(tenant=tenant, account_id=MALLORY)

    response = apply(client, token, theirs, issue_id="99999")

    assert response.status_code in (404, 422, 503), response.content
    assert response.status_code != 200


def test_a_read_that_cannot_tell_the_issues_project_does_not_pick_its_auto_apply_template(client, tenant, standin):
    """The first read of an issue applies its auto-apply template, the best fit for its project and type. A read
    through a credential that names no project (a site API token here) could only pick among the unscoped ones: it
    wrote the site-wide template, and the project's own, a better fit, never came (the issue had its checklist). It
    now writes nothing (the issue reads as empty, as without a template), and the first read that knows the project
    (the panel) applies the project's."""
    Template.objects.create(tenant=tenant, name="Site", text="- [ ] site-wide\n", auto_apply=True)
    Template.objects.create(
        tenant=tenant, name="Project", text="- [ ] the project's\n", auto_apply=True, project_id=ISSUE["projectId"]
    )
    token = site_token_create(tenant=tenant, name="Automation", scope="write", created_by="557058:alice")[1]

    first = client.get(f"/api/v1/issues/{ISSUE['id']}/checklist", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert first.status_code == 200, first.content
    assert (first.json()["version"], first.json()["items"]) == (0, [])
    assert [i["text"] for i in Api(client, tenant).get().json()["items"]] == ["the project's"]


def test_a_read_that_cannot_tell_the_project_still_applies_the_only_kind_there_is(client, tenant, standin):
    """Where the site has no project or type template, nothing better could fit: the site-wide one applies."""
    Template.objects.create(tenant=tenant, name="Site", text="- [ ] site-wide\n", auto_apply=True)
    token = site_token_create(tenant=tenant, name="Automation", scope="write", created_by="557058:alice")[1]

    first = client.get(f"/api/v1/issues/{ISSUE['id']}/checklist", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert [i["text"] for i in first.json()["items"]] == ["site-wide"]
