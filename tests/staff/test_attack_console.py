"""Attack suite, staff console and /metrics (issue #16): hidden text cannot be searched, filtered or sorted by; list
views are audited with their query string; one generic sign-in error, every failure counted; CSV exports cannot run
formulas; /metrics takes only a Bearer header."""

import csv
import io

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client

from checklists.models import ChecklistChange, ChecklistItem, Template
from contacts.models import Contact
from core import metrics
from staff.admin import csv_cell
from staff.audit import search_hash
from staff.forms import SIGN_IN_FAILED
from staff.models import AuditEntry
from tests.conftest import PASSWORD, code_for, create_staff, login
from tests.staff.conftest import SECRET_TEXT, url

pytestmark = pytest.mark.django_db

# Every way a list view takes a lookup on `text`: plain filters, negations, transforms, relations, ordering.
HIDDEN_LOOKUPS = [
    (ChecklistItem, {"text__startswith": "Rotate"}),
    (ChecklistItem, {"text": SECRET_TEXT}),
    (ChecklistItem, {"text__iregex": "^rot"}),
    (ChecklistItem, {"text__iexact": SECRET_TEXT.lower()}),
    (ChecklistItem, {"text__in": SECRET_TEXT}),
    (Template, {"text__contains": "Confidential"}),
    (Template, {"text__isnull": "False"}),
]
RELATED_LOOKUPS = [
    ("checklists", "checklist", {"items__text__startswith": "Rotate"}),
    ("tenants", "tenant", {"checklists__items__text__startswith": "Rotate"}),
    ("tenants", "tenant", {"templates__text__contains": "Confidential"}),
]


@pytest.mark.parametrize("model, params", HIDDEN_LOOKUPS)
def test_support_cannot_filter_by_hidden_text(staff, data, model, params):  # noqa: F811
    support = staff("support")
    response = support.get(url(model=model), params)
    assert response.status_code == 400  # refused (DisallowedModelAdminLookup), not an answer either way
    reader = staff("customer-data")
    assert reader.get(url(model=model), params).status_code == 200


@pytest.mark.parametrize("app, model, params", RELATED_LOOKUPS)
def test_support_cannot_reach_hidden_text_through_a_relation(staff, data, app, model, params):  # noqa: F811
    from django.apps import apps

    response = staff("support").get(url(model=apps.get_model(app, model)), params)
    assert response.status_code == 400


def test_the_oracle_is_closed_a_guess_and_a_miss_look_the_same(staff, data):  # noqa: F811
    support = staff("support")
    right = support.get(url(model=ChecklistItem), {"text__startswith": "R"})
    wrong = support.get(url(model=ChecklistItem), {"text__startswith": "Z"})
    assert right.status_code == wrong.status_code == 400
    assert right.content == wrong.content


def test_support_cannot_search_or_sort_by_hidden_text(staff, data):  # noqa: F811
    support = staff("support")
    found = support.get(url(model=ChecklistItem), {"q": "vault"}).content.decode()
    assert str(data["item"].pk) not in found
    found = support.get(url(model=Template), {"q": "Confidential"}).content.decode()
    assert str(data["template"].pk) not in found


def test_list_views_record_their_query_string(staff, data):  # noqa: F811
    client = staff("customer-data")
    assert client.get(url(model=ChecklistItem), {"status__exact": "todo", "q": "DEMO-1"}).status_code == 200
    entry = AuditEntry.objects.filter(action="list").order_by("-created_at").first()
    assert entry.model == "checklists.checklistitem"
    assert entry.path.startswith("/admin/checklists/checklistitem/?")
    # The filter as typed (a status names nobody); the search as a keyed hash (staff.audit), never in clear.
    assert "status__exact=todo" in entry.path and "DEMO-1" not in entry.path
    assert (entry.search_hash, entry.search_kind) == (search_hash("demo-1"), "issue_key")


# --- sign-in ----------------------------------------------------------------------------------------------------


def test_sign_in_gives_one_generic_error_until_password_and_code_are_right(monkeypatch):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    create_staff("gus", "support", monkeypatch)
    device = TOTPDevice.objects.get(user__username="gus")
    wrong_code = "000000" if code_for(device) != "000000" else "111111"
    attempts = {
        "wrong password, right code": {"password": "not-the-password-9", "token": code_for(device)},
        "right password, wrong code": {"token": wrong_code},
        "right password, no code": {"token": ""},
        "unknown user": {"username": "nobody-here", "token": "123456"},
    }
    bodies = {}
    for name, attempt in attempts.items():
        username = attempt.pop("username", "gus")
        response = login(Client(), username, **attempt)
        assert response.status_code == 200, name
        body = response.content.decode()
        assert SIGN_IN_FAILED in body, name
        assert "Invalid token" not in body and "enter your OTP" not in body and "correct username" not in body
        bodies[name] = body.count("errornote"), body.count("errorlist")
    assert len(set(bodies.values())) == 1, bodies  # the same error, in the same place, every time


def test_a_failed_sign_in_draws_the_same_form_whether_the_password_was_right(monkeypatch):
    """django-otp's login page adds a device menu and a "Get OTP Challenge" button once the password is right: a
    failed attempt with the right password then drew a different form, which told the sender the password."""
    import re

    from django_otp.plugins.otp_totp.models import TOTPDevice

    create_staff("ida", "support", monkeypatch)
    device = TOTPDevice.objects.get(user__username="ida")
    wrong_code = "000000" if code_for(device) != "000000" else "111111"
    forms = {}
    for name, attempt in {
        "wrong password": {"password": "not-the-password-9", "token": code_for(device)},
        "right password, wrong code": {"token": wrong_code},
    }.items():
        body = login(Client(), "ida", **attempt).content.decode()
        assert PASSWORD not in body, name  # django-otp wrote a right password back into the page
        form = body[body.index("<form") : body.index("</form>")]
        forms[name] = re.sub(r'value="[^"]*"', "", form)  # the CSRF token and the typed username differ
        assert "OTP" not in form and "otp_device" not in form and "otp_challenge" not in form, name
        # Words a new staff member understands, and a field their password manager or phone can fill.
        assert "Code from your authenticator app, or a recovery code" in form
        assert 'autocomplete="one-time-code"' in form
    assert forms["wrong password"] == forms["right password, wrong code"]


def test_a_missing_code_counts_towards_the_lockout(monkeypatch):
    create_staff("max", "support", monkeypatch)
    client = Client()
    for _ in range(django_settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "max", token="").status_code == 200  # the right password, no code
    locked = login(client, "max", token="")
    assert locked.status_code == 429
    assert login(client, "max").status_code == 429  # even the right code now
    call_command("axes_reset_username", "max", stdout=io.StringIO())
    assert login(client, "max").status_code == 302


def _failures_from(addresses, username):
    for address in addresses:
        login(Client(REMOTE_ADDR=address), username, token="")  # the right password, no code


def test_the_lockout_counts_an_ipv6_network_as_one_caller(monkeypatch):
    """A host is given a whole /64 (SLAAC, privacy addresses): counted per address, one caller would get
    AXES_FAILURE_LIMIT guesses of the second factor from each of 2**64 addresses."""
    create_staff("ivy", "support", monkeypatch)
    limit = django_settings.AXES_FAILURE_LIMIT
    _failures_from([f"2001:db8:0:7::{n:x}" for n in range(1, limit + 1)], "ivy")
    assert login(Client(REMOTE_ADDR="2001:db8:0:7:ffff::1"), "ivy").status_code == 429  # the same /64, the right code
    assert login(Client(REMOTE_ADDR="2001:db8:0:8::1"), "ivy").status_code == 302  # another network is not locked


def test_the_lockout_counts_an_ipv4_mapped_address_as_that_ipv4_address(monkeypatch):
    """A dual-stack listener reports an IPv4 caller as ::ffff:a.b.c.d: one caller, whichever way it arrived."""
    create_staff("ida", "support", monkeypatch)
    limit = django_settings.AXES_FAILURE_LIMIT
    _failures_from((["192.0.2.7", "::ffff:192.0.2.7"] * limit)[:limit], "ida")  # each spelling below the limit
    assert login(Client(REMOTE_ADDR="192.0.2.7"), "ida").status_code == 429
    assert login(Client(REMOTE_ADDR="::ffff:192.0.2.7"), "ida").status_code == 429


# --- CSV exports --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        '=HYPERLINK("http://evil.example","x")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1)",
        "\t=1",
        "\r=1",
        " =1",
        "  @SUM(A1)",
        "\u00a0=1",
    ],
)
def test_csv_export_cells_cannot_run_as_formulas(staff, data, value):  # noqa: F811
    Contact.objects.filter(pk=data["contact"].pk).update(display_name=value)
    client = staff("superuser")
    export = client.post(url(model=Contact), {"action": "export_csv", "_selected_action": [str(data["contact"].pk)]})
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[1][1] == "'" + value
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)


def test_csv_cell_leaves_ordinary_values_alone():
    assert csv_cell("Bea Billing") == "Bea Billing"
    assert csv_cell(None) == ""
    assert csv_cell("a=b") == "a=b"
    assert csv_cell("\uff1dcmd") == "'\uff1dcmd"


# --- /metrics -----------------------------------------------------------------------------------------------------

TOKEN = "metrics-token-for-attack-tests-0123456789"


@pytest.mark.parametrize(
    "how",
    [
        {"HTTP_AUTHORIZATION": TOKEN},  # a bare token, no scheme
        {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"},
        {"HTTP_AUTHORIZATION": f"bearer{TOKEN}"},
        {"HTTP_AUTHORIZATION": f"Token {TOKEN}"},
        {"HTTP_X_METRICS_TOKEN": TOKEN},
        {"QUERY_STRING": f"token={TOKEN}"},
        {"QUERY_STRING": f"access_token={TOKEN}"},
        {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}x"},
        {"HTTP_AUTHORIZATION": f"Bearer {TOKEN[:-1]}"},
    ],
)
def test_metrics_accept_only_a_bearer_header(client, settings, how):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics", **how).status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_metrics_compare_the_token_in_constant_time(client, settings, monkeypatch):
    import hmac

    settings.METRICS_TOKEN = TOKEN
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(metrics.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer guess").status_code == 404
    assert compared == [(b"guess", TOKEN.encode())]


def test_hidden_fields_of_other_models_stay_searchable_for_readers(staff, data):  # noqa: F811
    reader = staff("customer-data")
    found = reader.get(url(model=ChecklistItem), {"q": "vault"}).content.decode()
    assert str(data["item"].pk) in found
    assert reader.get(url(model=ChecklistChange), {"actor_account_id__startswith": "557058"}).status_code == 200
