"""A MongoDB commit whose reply is lost, injected for real by a TCP proxy between the app and SecantusDB
(devhost/mongoproxy.py): the write is stored once, the answer says what happened, the id returned is the stored
one, and the process's next writes are transactional again. SQLite has no such fault: its commit is a local call,
and its writers take the lock when the transaction begins (transaction_mode IMMEDIATE), so no attempt is retried
after its changes were made."""

import threading
import uuid

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from checklists.models import Checklist, ChecklistChange, ChecklistItem, Template
from core.db import atomic
from tenants.models import SiteToken, SiteTokenUse
from tenants.site_tokens import site_token_for
from tests.conftest import Api, through_mongo_proxy

pytestmark = pytest.mark.skipif(connection.vendor != "mongodb", reason="a MongoDB transaction fault; see docstring")


@pytest.fixture
def proxy(db):
    """The test database reached through the proxy, for this test only."""
    with through_mongo_proxy() as server:
        yield server


def _assert_next_writes_are_transactional(api, item_id):
    name = f"rolled-back-{uuid.uuid4().hex[:8]}"
    with pytest.raises(RuntimeError), atomic():
        Group.objects.create(name=name)
        raise RuntimeError("abort")
    assert not Group.objects.filter(name=name).exists()
    assert connection.session is None
    response = api.patch(item_id, text="Deploy to production")
    assert response.status_code == 200, response.content
    assert ChecklistItem.objects.get(id=item_id).text == "Deploy to production"


@pytest.mark.django_db
def test_a_lost_commit_reply_stores_the_write_once_and_says_so(proxy, client, tenant):
    api = Api(client, tenant)
    proxy.lose_replies_to("commitTransaction")
    response = api.add("Deploy")
    proxy.disarm()
    assert proxy.lost["commitTransaction"] >= 1  # the fault happened: the server committed, the app never heard
    assert response.status_code == 201, response.content
    stored = list(ChecklistItem.objects.values_list("id", "text"))
    assert stored == [(uuid.UUID(response.json()["id"]), "Deploy")]
    assert Checklist.objects.get().version == 1 == int(response["ETag"].strip('"'))
    assert ChecklistChange.objects.count() == 1
    _assert_next_writes_are_transactional(api, response.json()["id"])
    assert Checklist.objects.get().version == 2


@pytest.mark.django_db
def test_a_commit_that_never_arrived_is_retried_and_the_create_returns_the_stored_id(proxy, client, tenant):
    api = Api(client, tenant)
    api.add("Build")
    proxy.lose_requests_to("commitTransaction")
    response = api.add("Deploy", position=0)
    proxy.disarm()
    assert proxy.lost["commitTransaction"] >= 1
    assert response.status_code == 201, response.content
    deploy = ChecklistItem.objects.get(text="Deploy")  # one copy
    assert response.json()["id"] == str(deploy.id)
    assert [i["text"] for i in api.get().json()["items"]] == ["Deploy", "Build"]
    assert Checklist.objects.get().version == 2
    _assert_next_writes_are_transactional(api, response.json()["id"])


@pytest.mark.django_db
@pytest.mark.parametrize("lose", ["lose_replies_to", "lose_requests_to"])
def test_an_item_conditional_write_with_a_lost_commit_is_applied_once_and_answered_200(proxy, client, tenant, lose):
    """The item precondition (If-Match "item-<id>-<version>") is checked in each attempt: a commit that landed is
    not retried into a 412 against its own change, and one that never arrived is retried and passes."""
    api = Api(client, tenant)
    item = api.add("Build").json()
    assert api.patch(item["id"], status="done").status_code == 200  # item version 2
    getattr(proxy, lose)("commitTransaction")
    response = client.patch(
        api.url(f"/items/{item['id']}"),
        data={"text": "Build once"},
        content_type="application/json",
        HTTP_AUTHORIZATION=api.authorization,
        HTTP_IF_MATCH=f'"item-{item["id"]}-2"',
    )
    proxy.disarm()
    assert proxy.lost["commitTransaction"] >= 1
    assert response.status_code == 200, response.content
    stored = ChecklistItem.objects.get(id=item["id"])
    assert (stored.text, stored.status, stored.version) == ("Build once", "done", 3)
    assert Checklist.objects.get().version == 3 == int(response["ETag"].strip('"'))
    assert ChecklistChange.objects.filter(item_id=item["id"], action="item_updated").count() == 2


@pytest.mark.django_db
def test_a_lost_commit_reply_elsewhere_answers_503_json_not_500(proxy, client, tenant, standin):
    standin.grant("557058:alice", "admin")  # site-wide templates are changed by Jira admins
    api = Api(client, tenant)
    proxy.lose_replies_to("commitTransaction")
    response = api.call("post", "/api/v1/templates", {"name": "Release", "text": "- [ ] tag"})
    proxy.disarm()
    assert response.status_code == 503
    assert response.json()["error"] == "outcome_unknown"
    assert Template.objects.count() == 1  # it had landed: the answer said to reload, not to resend blindly
    assert connection.session is None


@pytest.mark.django_db
@pytest.mark.parametrize("lose", ["lose_replies_to", "lose_requests_to"])
def test_a_site_token_whose_commit_is_lost_is_created_once_and_shown(proxy, client, tenant, standin, lose):
    """A token is shown once, in the answer that creates it. Its commit's reply lost, the answer was "reload": the
    token had landed, live and counted against the site's limit, and its secret was never shown to anyone; the
    admin's retry made a second. The create knows the token it stored: it asks whether it landed, as checklist
    writes do, and answers with it, or creates it (once) when it never arrived."""
    standin.grant("557058:alice", "admin")  # site API tokens are managed by Jira admins
    api = Api(client, tenant)
    getattr(proxy, lose)("commitTransaction")
    response = api.call("post", "/api/v1/site-tokens", {"name": "Automation", "scope": "write"})
    proxy.disarm()
    assert proxy.lost["commitTransaction"] >= 1
    assert response.status_code == 201, response.content
    [row] = SiteToken.objects.all()
    assert response.json()["id"] == str(row.id)
    assert site_token_for(response.json()["token"]) == row
    assert SiteTokenUse.objects.filter(token=row, action="token created").count() == 1
    assert connection.session is None


@pytest.mark.django_db
def test_a_site_token_whose_outcome_cannot_be_told_answers_outcome_unknown(proxy, client, tenant, standin):
    """The commit's reply lost, then the database gone (the proxy stopped) while the create asks whether it landed:
    the answer says the outcome is unknown (reload first), not "unavailable" (retry), which would make a second."""
    standin.grant("557058:alice", "admin")
    api = Api(client, tenant)
    proxy.lose_replies_to("commitTransaction")
    gone = threading.Event()

    def stop_once_the_reply_is_lost():
        while not proxy.lost.get("commitTransaction") and not gone.wait(0.005):
            pass
        proxy.stop()
        gone.set()

    threading.Thread(target=stop_once_the_reply_is_lost, daemon=True).start()
    response = api.call("post", "/api/v1/site-tokens", {"name": "Automation", "scope": "write"})
    gone.set()
    assert proxy.lost["commitTransaction"] >= 1
    assert response.status_code == 503, response.content
    assert response.json()["error"] == "outcome_unknown"
    assert connection.session is None
