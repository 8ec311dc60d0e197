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


def test_a_csv_import_audits_the_licenses_and_contacts_it_wrote(staff, data):
    """The import writes customer records (contacts' emails and names, their licenses): its entries name them, one
    per model, as an edit's names its record; the import's entry named a count of licenses and no contact at all."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from contacts.models import License

    billing = staff("billing")
    existing = data["contact"]
    rows = [
        "addonLicenseId,status,cloudSiteHostname,technicalContactEmail,technicalContactName,billingContactEmail",
        f"L-901,active,acme.atlassian.net,new.person@acme.example,New Person,{existing.email}",
        "L-902,active,other.atlassian.net,,,",
    ]
    upload = SimpleUploadedFile("licenses.csv", "\n".join(rows).encode(), content_type="text/csv")
    response = billing.post("/admin/contacts/contact/import/", {"file": upload})
    assert response.status_code == 302, response.content[:300]
    entries = {e.model: e for e in AuditEntry.objects.filter(detail="import_csv")}
    licenses = {
        str(pk) for pk in License.objects.filter(addon_license_id__in=["L-901", "L-902"]).values_list("pk", flat=True)
    }
    assert set(entries["contacts.license"].object_ids) == licenses and entries["contacts.license"].object_count == 2
    written = {str(Contact.objects.get(email="new.person@acme.example").pk), str(existing.pk)}
    assert set(entries["contacts.contact"].object_ids) == written and entries["contacts.contact"].object_count == 2
    assert "new.person" not in str(entries["contacts.contact"].object_ids)  # ids, never the data
