import pytest

from checklists.models import Checklist
from tests.conftest import Api

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_issue_property_follows_a_sequence_of_edits(client, tenant, standin):
    api = Api(client, tenant)
    api.add("Release", isHeader=True)
    ids = [api.add(t).json()["id"] for t in ("tag", "build", "announce")]
    api.add("optional", mandatory=False)
    api.patch(ids[0], status="done")
    api.patch(ids[1], status="skipped")
    api.delete(ids[2])
    value = standin.property("10001", "herochecklist-progress")
    assert value == {"done": 2, "total": 3, "percent": 67, "mandatoryOpen": 0, "complete": "true"}
    # Counts only: nothing personal or textual ever reaches Jira.
    calls = [c for c in standin.recorded if c.method == "PUT"]
    assert calls and all(c.authorization_ok for c in calls)
    assert all(set(c.body) == {"done", "total", "percent", "mandatoryOpen", "complete"} for c in calls)
    assert Checklist.objects.get().property_synced_version == Checklist.objects.get().version


def test_a_failed_property_write_never_fails_the_users_edit(client, tenant, standin):
    standin.fail_next = [400]  # Jira refuses the property (not retryable)
    api = Api(client, tenant)
    assert api.add("still saved").status_code == 201
    assert api.get().json()["items"][0]["text"] == "still saved"
