"""Django's admin autocomplete endpoint lists any registered model's records (their names: a contact's is its email)
and searches them, for any field of any model pointing at it, whether or not a page uses autocomplete: it is a look
at customer data outside the audited pages. The console uses no autocomplete, so the endpoint answers nothing."""

import pytest

from staff.models import AuditEntry
from tests.staff.conftest import EMAIL

pytestmark = pytest.mark.django_db

PROBES = [
    ("billing", {"app_label": "contacts", "model_name": "contactlink", "field_name": "contact", "term": "billing"}),
    ("billing", {"app_label": "contacts", "model_name": "emaildelivery", "field_name": "contact", "term": ""}),
    ("support", {"app_label": "checklists", "model_name": "checklistitem", "field_name": "checklist", "term": ""}),
    ("support", {"app_label": "checklists", "model_name": "checklist", "field_name": "tenant", "term": ""}),
]


@pytest.mark.parametrize(("role", "query"), PROBES)
def test_the_autocomplete_endpoint_shows_no_customer_record(staff, data, role, query):
    client = staff(role)
    before = AuditEntry.objects.count()
    response = client.get("/admin/autocomplete/", query)
    assert response.status_code in (403, 404)
    body = response.content.decode()
    assert EMAIL not in body and str(data["checklist"].pk) not in body and str(data["tenant"].pk) not in body
    assert AuditEntry.objects.count() == before
