"""Red team: a contact's name corrected in the staff console. It is written into our emails ("Hi {name},") and sent to
HubSpot, like a name from the Marketplace or a CSV import; the console's change form stored it past the rules those
doors apply (services.contact_name) and past the sync, so the correction never reached HubSpot."""

import pytest

from contacts import services
from contacts.models import Contact, SyncState
from devhost.marketplace import license_record

pytestmark = pytest.mark.django_db(transaction=True)  # the sync a rename queues runs after the commit

EMAIL = "tech1@company1.example"


def rename(client, contact: Contact, name: str):
    return client.post(
        f"/admin/contacts/contact/{contact.pk}/change/",
        {"display_name": name, "links-TOTAL_FORMS": "0", "links-INITIAL_FORMS": "0"},
    )


def test_a_name_corrected_in_the_console_reaches_hubspot(hubspot, staff):
    services.license_ingest(records=[license_record(1)])
    contact = Contact.objects.get(email=EMAIL)
    assert contact.sync_state == SyncState.SYNCED
    assert hubspot.contacts[EMAIL]["properties"]["firstname"] == "Tech"

    response = rename(staff("superuser"), contact, "Tessa Person")

    assert response.status_code == 302, response.content[:500]
    contact.refresh_from_db()
    assert contact.display_name == "Tessa Person"
    assert contact.sync_state == SyncState.SYNCED  # pushed again, and settled
    assert hubspot.contacts[EMAIL]["properties"]["firstname"] == "Tessa"


@pytest.mark.parametrize(
    "name",
    [
        "Tech\nP.S. Your license lapses today: pay at https://pay.example",
        "Tech\r\nBcc: everyone@example.com",
        "Tech\u2028second line",
        "Tech \u202eevil",
        "Tech\x07",
        "T" * 201,
    ],
)
def test_the_console_refuses_a_name_no_other_door_would_store(hubspot, staff, name):
    services.license_ingest(records=[license_record(1)])
    contact = Contact.objects.get(email=EMAIL)

    response = rename(staff("superuser"), contact, name)

    assert response.status_code == 200  # the form again, with its error
    assert b"errorlist" in response.content
    contact.refresh_from_db()
    assert contact.display_name == "Tech Person1"
    assert contact.sync_state == SyncState.SYNCED


def test_a_name_cleared_in_the_console_greets_the_contact_as_there(hubspot, staff):
    services.license_ingest(records=[license_record(1)])
    contact = Contact.objects.get(email=EMAIL)

    assert rename(staff("superuser"), contact, "\u200b ").status_code == 302  # nothing anybody could see: no name

    contact.refresh_from_db()
    assert contact.display_name == ""
