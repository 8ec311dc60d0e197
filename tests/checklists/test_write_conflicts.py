"""Writes that meet another transaction holding the same MongoDB document (a WriteConflict, labelled
TransientTransactionError), outside the checklist writes that retry them: the answer is a JSON 409 to retry, never
a 500, and nothing is half-written. And limits counted before an insert (templates, a site's statuses) cannot be
overrun by two transactions at once, each counting in its own snapshot. SQLite has neither: its writers take turns
before their transactions begin (core.db)."""

import pytest
from django.db import connection

from checklists.models import MAX_PROJECT_TEMPLATES, Template
from tests.conftest import Api

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "mongodb", reason="MongoDB transactions' write conflicts"),
]


@pytest.fixture(autouse=True)
def alice_administers_jira(standin):
    standin.grant("557058:alice", "admin")


class Holder:
    """Another client's transaction, open on the test database until the test ends: it has written `documents` and
    holds them the way a concurrent request would, mid-transaction."""

    def __init__(self):
        client = connection.connection  # the backend's MongoClient
        self.database = client[connection.settings_dict["NAME"]]
        self.session = client.start_session()
        self.session.start_transaction()

    def touch(self, collection: str, query: dict) -> None:
        result = self.database[collection].update_many(query, {"$set": {"held": True}}, session=self.session)
        assert result.matched_count, (collection, query)

    def insert(self, collection: str, documents: list[dict]) -> None:
        self.database[collection].insert_many(documents, session=self.session)

    def abort(self) -> None:
        self.session.abort_transaction()
        self.session.end_session()


@pytest.fixture
def holder():
    held = Holder()
    yield held
    held.abort()


def test_a_template_held_by_another_transaction_answers_409_json_and_changes_nothing(client, tenant, holder):
    api = Api(client, tenant)
    created = api.call("post", "/api/v1/templates", {"name": "Release", "text": "- [ ] tag"}).json()
    holder.touch(Template._meta.db_table, {"name": "Release"})
    response = api.call("patch", f"/api/v1/templates/{created['id']}", {"name": "Renamed"})
    assert response.status_code == 409, response.content
    assert response.json()["error"] == "conflict" and response.has_header("Retry-After")
    assert Template.objects.get().name == "Release"
    assert connection.session is None  # the next request starts a transaction of its own


def test_two_creates_at_once_cannot_both_take_a_projects_last_template(client, tenant, holder):
    """The other transaction has taken the last room in the project (its insert not committed yet): ours must not
    count its snapshot and insert past the limit."""
    Template.objects.bulk_create(
        Template(tenant=tenant, name=f"t{n}", text="- [ ] x\n", project_id="10000")
        for n in range(MAX_PROJECT_TEMPLATES - 1)
    )
    api = Api(client, tenant)
    holder.touch("tenants_tenant", {"client_key": tenant.client_key})  # what a create holds while it counts
    response = api.call("post", "/api/v1/templates", {"name": "Last", "text": "- [ ] x", "projectId": "10000"})
    assert response.status_code == 409, response.content
    assert Template.objects.count() == MAX_PROJECT_TEMPLATES - 1


@pytest.mark.parametrize(
    ("path", "body", "model"),
    [
        ("/api/v1/templates", {"name": "Release", "text": "- [ ] tag"}, "checklists.Template"),
        ("/api/v1/statuses", {"name": "In review"}, "checklists.SiteStatus"),
        ("/api/v1/site-tokens", {"name": "CI", "scope": "read"}, "tenants.SiteToken"),
    ],
)
def test_every_create_under_a_sites_limit_waits_for_the_sites_row(client, tenant, holder, path, body, model):
    """Each limit counted before an insert holds the site's row first (Tenant.objects.hold): while another
    transaction holds it, a create is a 409 to retry, and nothing is added."""
    from django.apps import apps

    holder.touch("tenants_tenant", {"client_key": tenant.client_key})
    response = Api(client, tenant).call("post", path, body)
    assert response.status_code == 409, response.content
    assert response.json()["error"] == "conflict"
    assert not apps.get_model(model).objects.exists()


def test_a_lifecycle_call_that_meets_a_held_site_row_is_503_to_redeliver_and_changes_nothing(
    client, tenant, standin, holder
):
    """Outside /api/ (Jira's lifecycle calls and webhooks, the staff console) a write conflict is "try again": Jira
    redelivers a 503, and the site keeps its secret until a delivery lands."""
    import secrets

    from tests.conftest import signed_install

    holder.touch("tenants_tenant", {"client_key": tenant.client_key})
    old_secret = tenant.shared_secret
    standin.shared_secret = secrets.token_urlsafe(48)
    response = signed_install(client, standin)
    assert response.status_code == 503 and response.has_header("Retry-After"), response.content
    tenant.refresh_from_db()
    assert tenant.shared_secret == old_secret
