import pytest

from checklists.models import Template
from tests.conftest import Api, on_standin

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def alice_administers_jira(standin):
    # These tests are about templates themselves; who may change which template is tests/test_authorization.py.
    standin.grant("557058:alice", "admin")


def make(api, **fields):
    body = {"name": "Release", "text": "## Release\n- [ ] tag\n- [ ]? blog post\n", **fields}
    return api.client.post(
        "/api/v1/templates", data=body, content_type="application/json", HTTP_AUTHORIZATION=api.authorization
    )


def test_create_list_update_delete(api):
    created = make(api)
    assert created.status_code == 201
    template = created.json()
    assert template["name"] == "Release" and template["autoApply"] is False
    listed = api.client.get("/api/v1/templates", HTTP_AUTHORIZATION=api.authorization).json()
    assert [t["id"] for t in listed] == [template["id"]]
    patched = api.client.patch(
        f"/api/v1/templates/{template['id']}",
        data={"name": "Release v2"},
        content_type="application/json",
        HTTP_AUTHORIZATION=api.authorization,
    )
    assert patched.json()["name"] == "Release v2"
    deleted = api.client.delete(f"/api/v1/templates/{template['id']}", HTTP_AUTHORIZATION=api.authorization)
    assert deleted.status_code == 204
    assert not Template.objects.exists()


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"text": "- [?] nope"}, "text (line 1)"),
        ({"text": ""}, "text"),
        ({"projectId": "PROJ"}, "projectId"),
        ({"autoApply": "yes"}, "autoApply"),
    ],
)
def test_bad_templates_are_422_naming_the_field(api, fields, bad):
    response = make(api, **fields)
    assert response.status_code == 422
    assert bad in response.json()["fields"]
    assert not Template.objects.exists()


def test_apply_append_and_replace(api):
    template = make(api).json()
    api.add("existing")
    url = api.url("/apply-template")
    appended = api.call("post", url, {"templateId": template["id"], "mode": "append"}).json()
    assert [i["text"] for i in appended["items"]] == ["existing", "Release", "tag", "blog post"]
    replaced = api.call("post", url, {"templateId": template["id"], "mode": "replace"}).json()
    assert [i["text"] for i in replaced["items"]] == ["Release", "tag", "blog post"]
    assert api.call("post", url, {"templateId": template["id"], "mode": "merge"}).status_code == 422


def test_another_sites_template_is_404(client, tenant, other_tenant, standin):
    # Charlie may edit on his own site (its Jira answers), so what stops him is the site boundary: 404.
    charlie = Api(client, on_standin(other_tenant, standin), account_id="557058:charlie")
    standin.grant("557058:charlie", "admin")
    foreign = make(charlie).json()
    alice = Api(client, tenant)
    response = alice.call("post", alice.url("/apply-template"), {"templateId": foreign["id"], "mode": "append"})
    assert response.status_code == 404
    assert client.get(f"/api/v1/templates/{foreign['id']}", HTTP_AUTHORIZATION=alice.authorization).status_code == 404
    assert client.get("/api/v1/templates", HTTP_AUTHORIZATION=alice.authorization).json() == []


def test_the_best_matching_auto_template_applies_once_on_first_open(api):
    make(api, name="global", text="- [ ] global\n", autoApply=True)
    make(api, name="project", text="- [ ] project\n", autoApply=True, projectId="10000")
    make(
        api,
        name="project+type",
        text="- [ ] project and type\n",
        autoApply=True,
        projectId="10000",
        issueTypeId="10002",
    )
    make(api, name="other project", text="- [ ] other\n", autoApply=True, projectId="99999")
    first = api.get().json()
    assert [i["text"] for i in first["items"]] == ["project and type"]
    assert first["version"] == 1
    api.delete(first["items"][0]["id"])
    assert api.get().json()["items"] == []  # emptied by the user: never re-applied


def test_project_template_beats_global_when_the_type_differs(client, tenant):
    api = Api(client, tenant, issue={"id": "10009", "key": "DEMO-9", "projectId": "10000", "typeId": "77"})
    make(api, name="global", text="- [ ] global\n", autoApply=True)
    make(api, name="project", text="- [ ] project\n", autoApply=True, projectId="10000")
    make(api, name="project+type", text="- [ ] typed\n", autoApply=True, projectId="10000", issueTypeId="10002")
    assert [i["text"] for i in api.get().json()["items"]] == ["project"]


def test_a_template_of_another_project_or_issue_type_is_refused_and_changes_nothing(api):
    # The api fixture's issue is DEMO-1 in project 10000, type 10002 (the panel token says so).
    other_project = make(api, name="other project", projectId="99999").json()
    other_type = make(api, name="other type", projectId="10000", issueTypeId="99998").json()
    fitting = make(api, name="this project", text="- [ ] fits\n", projectId="10000").json()
    url = api.url("/apply-template")
    for template in (other_project, other_type):
        response = api.call("post", url, {"templateId": template["id"], "mode": "append"})
        assert response.status_code == 422 and "templateId" in response.json()["fields"]
    assert api.get().json()["version"] == 0
    applied = api.call("post", url, {"templateId": fitting["id"], "mode": "append"})
    assert applied.status_code == 200 and [i["text"] for i in applied.json()["items"]] == ["fits"]


def _fill(tenant, count, project_id=""):
    Template.objects.bulk_create(
        Template(tenant=tenant, name=f"t{n}", text="- [ ] x\n", project_id=project_id) for n in range(count)
    )


def test_one_project_may_hold_half_the_sites_templates_and_the_site_all_of_them(api, tenant):
    """A project's admins cannot take the whole site's room (MAX_PROJECT_TEMPLATES), neither by creating nor by
    moving templates in; the site's own limit (MAX_TEMPLATES) still holds for everyone."""
    from checklists.models import MAX_PROJECT_TEMPLATES, MAX_TEMPLATES

    _fill(tenant, MAX_PROJECT_TEMPLATES - 1, "10000")
    assert make(api, projectId="10000").status_code == 201
    full = make(api, name="one too many", projectId="10000")
    assert full.status_code == 422
    assert full.json()["fields"]["templates"] == f"cannot exceed {MAX_PROJECT_TEMPLATES} in one project"
    elsewhere = make(api, name="elsewhere", projectId="10001")
    assert elsewhere.status_code == 201
    moved = api.client.patch(
        f"/api/v1/templates/{elsewhere.json()['id']}",
        data={"projectId": "10000"},
        content_type="application/json",
        HTTP_AUTHORIZATION=api.authorization,
    )
    assert moved.status_code == 422 and "templates" in moved.json()["fields"]
    renamed = api.client.patch(  # a template already in the full project may still change
        f"/api/v1/templates/{Template.objects.filter(project_id='10000').first().pk}",
        data={"name": "renamed", "projectId": "10000"},
        content_type="application/json",
        HTTP_AUTHORIZATION=api.authorization,
    )
    assert renamed.status_code == 200
    assert Template.objects.filter(project_id="10000").count() == MAX_PROJECT_TEMPLATES
    assert Template.objects.get(pk=elsewhere.json()["id"]).project_id == "10001"

    _fill(tenant, MAX_TEMPLATES - Template.objects.count() - 1)
    assert make(api, name="the last one").status_code == 201
    over = make(api, name="over the site's limit", projectId="10002")
    assert over.status_code == 422
    assert over.json()["fields"]["templates"] == f"cannot exceed {MAX_TEMPLATES} on one site"
    assert Template.objects.count() == MAX_TEMPLATES
