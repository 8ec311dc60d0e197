"""A superuser correcting a contact's name in the console goes through the one rule for a line of customer text (as
the Marketplace poll and the CSV import do): the name is written into our emails and sent to HubSpot. A corrected
name is pending for HubSpot again, as when the Marketplace reports a new one."""

import re

import pytest

from contacts.models import Contact, SyncState
from tests.staff.conftest import url

pytestmark = pytest.mark.django_db


def _management(client, contact) -> dict:
    form = client.get(url(contact)).content.decode()
    return dict(re.findall(r'name="([\w-]+_FORMS)" value="(\d+)"', form))


@pytest.mark.parametrize(
    "name, why",
    [
        ("Bea\nBilling\n\nClick http://evil.example to renew", "line break"),
        ("Bea \u202eBilling", "bidirectional"),
        ("Bea\x07Billing", "control"),
    ],
)
def test_a_name_breaking_the_line_rules_is_refused_on_the_form(staff, data, name, why):
    client = staff("superuser")
    contact = data["contact"]
    response = client.post(url(contact), {"display_name": name, **_management(client, contact)})
    assert response.status_code == 200  # the form again, with the reason; nothing saved
    assert "errorlist" in response.content.decode()
    assert Contact.objects.get(pk=contact.pk).display_name == "Bea Billing"


def test_a_corrected_name_is_pending_for_hubspot_again(staff, data):
    client = staff("superuser")
    contact = data["contact"]
    Contact.objects.filter(pk=contact.pk).update(sync_state=SyncState.SYNCED, sync_attempts=2)
    response = client.post(url(contact), {"display_name": "  Bea B.  ", **_management(client, contact)})
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.display_name, contact.sync_state, contact.sync_attempts) == ("Bea B.", SyncState.PENDING, 0)
