"""A page that shows customer records is audited whatever the method that drew it: a POST to a list with no action in
it draws the list, and a rejected edit draws the record again."""

import pytest

from checklists.models import ChecklistItem
from contacts.models import Contact
from staff.models import AuditEntry
from tests.staff.conftest import EMAIL, url

pytestmark = pytest.mark.django_db


def _newest():
    return AuditEntry.objects.order_by("-created_at").first()


@pytest.mark.parametrize(("role", "model", "shown"), [("billing", Contact, "email"), ("support", ChecklistItem, "id")])
def test_a_list_drawn_for_a_post_is_audited(staff, data, role, model, shown):
    client = staff(role)
    before = AuditEntry.objects.count()
    response = client.post(url(model=model, page="") + "?q=", {})
    assert response.status_code == 200
    record = data["contact"] if model is Contact else data["item"]
    assert str(getattr(record, shown)) in response.content.decode()
    assert AuditEntry.objects.count() == before + 1
    entry = _newest()
    assert entry.action == "list" and str(record.pk) in entry.object_ids


def test_a_rejected_edit_that_draws_the_record_again_is_audited(staff, data):
    client = staff("superuser")
    before = AuditEntry.objects.count()
    response = client.post(url(data["contact"]), {"display_name": "x" * 500})
    assert response.status_code == 200 and EMAIL in response.content.decode()
    assert AuditEntry.objects.count() == before + 1
    entry = _newest()
    assert entry.action == "view" and entry.object_ids == [str(data["contact"].pk)]
