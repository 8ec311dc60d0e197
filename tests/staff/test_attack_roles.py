"""Attack suite, staff console roles and factors: a second factor switched off in the console (unconfirmed) signs
nobody in, even named in the form; a failed sign-in keeps no recovery code; an action on "all matching" records says
in the audit log what matched."""

import re

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from contacts.models import Contact
from staff.audit import search_hash
from staff.forms import SIGN_IN_FAILED
from staff.models import AuditEntry
from tests.conftest import PASSWORD, code_for, create_staff, login
from tests.staff.conftest import EMAIL, url

pytestmark = pytest.mark.django_db


def _sign_in(client, username, device, token):
    # The form django-otp's admin login draws has an otp_device field: anyone can post a device's persistent id.
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": PASSWORD, "otp_token": token, "otp_device": device.persistent_id},
    )


@pytest.mark.parametrize("kind", ["authenticator", "recovery codes"])
def test_a_device_switched_off_signs_nobody_in_even_named_in_the_form(monkeypatch, kind):
    out = create_staff("dan", "superuser", monkeypatch)
    totp = TOTPDevice.objects.get(user__username="dan")
    static = StaticDevice.objects.get(user__username="dan")
    # The phone was lost: a superuser unticks "confirmed" on its device page (the one field that page edits).
    TOTPDevice.objects.filter(pk=totp.pk).update(confirmed=False)
    StaticDevice.objects.filter(pk=static.pk).update(confirmed=False)
    device, token = (totp, code_for(totp)) if kind == "authenticator" else (static, out.split()[-1])
    client = Client()
    response = _sign_in(client, "dan", device, token)
    # The generic failure, as for any wrong code: not a "success" that tells the sender the password was right.
    assert response.status_code == 200 and SIGN_IN_FAILED in response.content.decode()
    assert client.get("/admin/").status_code == 302
    # And it counted towards the lockout: a "successful" sign-in reset the count (AXES_RESET_ON_SUCCESS).
    assert AccessAttempt.objects.filter(username="dan").get().failures_since_start == 1


def test_another_users_device_is_refused_too(monkeypatch):
    create_staff("eva", "support", monkeypatch)
    create_staff("ivo", "superuser", monkeypatch)
    theirs = TOTPDevice.objects.get(user__username="ivo")
    response = _sign_in(Client(), "eva", theirs, code_for(theirs))
    assert response.status_code == 200 and SIGN_IN_FAILED in response.content.decode()


def test_an_action_on_all_matching_records_audits_what_matched(staff, data):
    Contact.objects.create(email="someone.else@other.example", display_name="Someone Else")
    billing = staff("billing")
    export = billing.post(
        url(model=Contact) + "?q=customer.example&sync_state__exact=pending",
        {"action": "export_csv", "select_across": "1", "_selected_action": ["x"]},
    )
    assert export.status_code == 200 and EMAIL in export.content.decode()
    assert "someone.else" not in export.content.decode()
    entry = AuditEntry.objects.order_by("-created_at").first()
    assert (entry.action, entry.object_ids, entry.object_count) == ("export", ["*"], 1)
    # "*" is all that this search and filter matched: the entry says which, or it names no record at all.
    assert entry.search_hash == search_hash("customer.example") and "sync_state__exact=pending" in entry.path
    assert "customer.example" not in entry.path  # the query, hashed, and not the records' data


def test_a_selected_action_audits_its_records_and_its_page(staff, data):
    billing = staff("billing")
    billing.post(url(model=Contact) + "?q=Bea", {"action": "retry_sync", "_selected_action": [str(data["contact"].pk)]})
    entry = AuditEntry.objects.order_by("-created_at").first()
    assert (entry.action, entry.detail, entry.object_ids) == ("action", "retry_sync", [str(data["contact"].pk)])
    assert entry.path == url(model=Contact) and (entry.search_hash, entry.search_length) == (search_hash("bea"), 3)


def test_a_failed_sign_in_stores_and_shows_no_recovery_code(monkeypatch, staff):
    out = create_staff("rex", "support", monkeypatch)
    code = re.search(r"Recovery codes \(each works once\): (\S+)", out).group(1)
    # A mistyped password with a recovery code: the attempt is recorded for the lockout, with what the form held.
    assert login(Client(), "rex", password="not-the-password-7", token=code).status_code == 200
    attempt = AccessAttempt.objects.get(username="rex")
    assert code not in attempt.post_data and code not in attempt.get_data
    superuser = staff("superuser")
    for page in ("/admin/axes/accessattempt/", f"/admin/axes/accessattempt/{attempt.pk}/change/"):
        response = superuser.get(page)
        assert response.status_code == 200 and code not in response.content.decode(), page
    assert login(Client(), "rex", token=code).status_code == 302  # still unused, and still only its owner's
