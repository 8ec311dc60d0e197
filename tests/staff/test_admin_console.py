"""The admin console: roles page by page, two factors, lockout, the audit trail, and list pages on 100,000 items."""

import io
import re
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_otp.plugins.otp_totp.models import TOTPDevice

from checklists.models import Checklist, ChecklistChange, ChecklistItem, Template
from contacts.models import Contact, License
from staff.forms import SIGN_IN_FAILED
from staff.models import AppendOnlyError, AuditEntry
from tenants.models import Tenant
from tests.conftest import PASSWORD, code_for, create_staff, login
from tests.staff.conftest import EMAIL, SECRET_TEXT, TEMPLATE_TEXT, url  # noqa: F401

pytestmark = pytest.mark.django_db

# --- createstaff and two factors -----------------------------------------------------------------------------------


def test_createstaff_shows_the_second_factor_once(monkeypatch):
    out = create_staff("sam", "support", monkeypatch)
    device = TOTPDevice.objects.get(user__username="sam")
    uri = re.search(r"otpauth://totp/\S+", out).group(0)
    assert device.config_url == uri and "issuer=HeroChecklist" in uri
    assert "█" in out  # the terminal QR code
    codes = re.search(r"Recovery codes \(each works once\): (.+)", out).group(1).split()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert PASSWORD not in out  # read from stdin, never echoed
    user = device.user
    assert user.is_staff and not user.is_superuser
    assert [g.name for g in user.groups.all()] == ["Support"]
    with pytest.raises(CommandError, match="exists"):
        create_staff("sam", "support", monkeypatch)


def test_createstaff_refuses_a_weak_password(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("password\n"))
    with pytest.raises(CommandError, match="password refused"):
        call_command("createstaff", "weak", role="support", password_stdin=True, stdout=io.StringIO())
    assert not TOTPDevice.objects.filter(user__username="weak").exists()


def test_login_needs_the_password_and_a_valid_code(monkeypatch, settings):
    # django-otp's throttle after two wrong codes is 2 s by default: a loaded machine can spend that between the
    # wrong codes and the check below. A minute a step keeps the device throttled however slow the run is.
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    out = create_staff("sue", "superuser", monkeypatch)
    device = TOTPDevice.objects.get(user__username="sue")
    client = Client()
    for attempt in (
        {"token": ""},  # password alone
        {"token": "000000" if code_for(device) != "000000" else "111111"},
        {"token": code_for(device, drift=-10)},  # five minutes old
        {"password": "wrong-password-123", "token": code_for(device)},
    ):
        response = login(client, "sue", **attempt)
        assert response.status_code == 200, attempt  # the form again, with an error
        assert b"errornote" in response.content
        assert client.get("/admin/").status_code == 302
    # Every one of those counted towards the lockout (a missing code too): clear it to see django-otp's own brake.
    call_command("axes_reset_username", "sue", stdout=io.StringIO())
    # django-otp slows down guessing too: after wrong codes the device refuses even the right one for a while (with
    # the same generic error: a distinct message would confirm the password).
    throttled = login(client, "sue")
    assert throttled.status_code == 200 and SIGN_IN_FAILED.encode() in throttled.content, throttled.content.decode()
    device.refresh_from_db()
    device.throttle_reset()
    assert login(client, "sue").status_code == 302
    assert client.get("/admin/").status_code == 200

    # A recovery code works instead of the authenticator, once.
    code = re.search(r"Recovery codes \(each works once\): (\S+)", out).group(1)
    other = Client()
    assert login(other, "sue", token=code).status_code == 302
    assert other.get("/admin/").status_code == 200
    assert login(Client(), "sue", token=code).status_code == 200


def test_a_password_alone_never_opens_the_console(monkeypatch):
    create_staff("pat", "superuser", monkeypatch)
    client = Client()
    client.force_login(TOTPDevice.objects.get(user__username="pat").user)  # a session without a verified device
    response = client.get("/admin/tenants/tenant/")
    assert response.status_code == 302 and response.url.startswith("/admin/login/")


def test_repeated_failures_lock_the_account_out(monkeypatch):
    create_staff("lou", "support", monkeypatch)
    client = Client()
    limit = settings.AXES_FAILURE_LIMIT
    for n in range(limit - 1):
        # wrong passwords and wrong codes both count
        attempt = {"password": "not-the-password-1"} if n % 2 else {"token": "12345x"}
        assert login(client, "lou", **attempt).status_code == 200
    locked = login(client, "lou", token="999999x")
    assert locked.status_code == 429
    assert b"Too many failed sign-in attempts" in locked.content
    # Even the right password and code are refused now, from this address.
    again = login(client, "lou")
    assert again.status_code == 429 and client.get("/admin/").status_code == 302
    call_command("axes_reset_username", "lou", stdout=io.StringIO())
    assert login(client, "lou").status_code == 302


# --- roles, page by page ------------------------------------------------------------------------------------------


def pages(data):
    return {
        "tenant_list": url(model=Tenant),
        "tenant": url(data["tenant"]),
        "checklist_list": url(model=Checklist),
        "checklist": url(data["checklist"]),
        "item_list": url(model=ChecklistItem),
        "item": url(data["item"]),
        "template_list": url(model=Template),
        "template": url(data["template"]),
        "history_list": url(model=ChecklistChange),
        "history": url(data["change"]),
        "contact_list": url(model=Contact),
        "contact": url(data["contact"]),
        "license_list": url(model=License),
        "audit_list": url(model=AuditEntry),
    }


SUPPORT_PAGES = {
    "tenant_list",
    "tenant",
    "checklist_list",
    "checklist",
    "item_list",
    "item",
    "template_list",
    "template",
}
VISIBLE = {
    "support": SUPPORT_PAGES,
    "customer-data": SUPPORT_PAGES | {"history_list", "history"},
    "billing": {"contact_list", "contact", "license_list"},
}


@pytest.mark.parametrize("role", ["support", "customer-data", "billing", "superuser"])
def test_each_role_sees_exactly_its_pages(role, staff, data):
    client = staff(role)
    visible = VISIBLE.get(role, set(pages(data)))
    for name, page in pages(data).items():
        status = client.get(page).status_code
        assert status == (200 if name in visible else 403), (role, name, status)


@pytest.mark.parametrize("role", ["support", "customer-data", "superuser"])
def test_item_and_template_text_needs_the_customer_data_role(role, staff, data):
    client = staff(role)
    can_read = role != "support"
    for page in (url(model=ChecklistItem), url(data["item"]), url(model=Template), url(data["template"])):
        body = client.get(page).content.decode()
        shown = SECRET_TEXT in body or TEMPLATE_TEXT in body
        assert shown == can_read, page
        assert ("hidden (" in body) == (not can_read), page
    # Support cannot find text by searching for it either.
    found = client.get(url(model=ChecklistItem), {"q": "vault"}).content.decode()
    assert (str(data["item"].pk) in found) == can_read


def test_billing_has_no_checklist_data_in_the_index(staff, data):
    body = staff("billing").get("/admin/").content.decode()
    assert "/admin/contacts/contact/" in body
    for forbidden in ("/admin/checklists/", "/admin/tenants/", "/admin/staff/auditentry/", "/admin/auth/"):
        assert forbidden not in body


def test_actions_outside_a_role_fail(staff, data):
    support = staff("support")
    retry = {"action": "retry_sync", "_selected_action": [str(data["contact"].pk)]}
    assert support.post(url(model=Contact), retry).status_code == 403
    assert support.post(url(data["tenant"]), {"state": "disabled"}).status_code == 403
    assert support.post(url(data["item"], page="delete/"), {"post": "yes"}).status_code == 403
    billing = staff("billing")
    assert billing.post(url(data["contact"]), {"display_name": "Renamed"}).status_code == 403
    assert billing.get("/admin/contacts/contact/import/").status_code == 200
    assert support.get("/admin/contacts/contact/import/").status_code == 403
    Contact.objects.filter(pk=data["contact"].pk).update(sync_state="failed", sync_attempts=10)
    response = billing.post(url(model=Contact), retry)
    assert response.status_code == 302
    data["contact"].refresh_from_db()
    assert data["contact"].display_name == "Bea Billing"
    assert data["contact"].sync_state == "pending"  # queued for the next push
    assert data["contact"].sync_attempts == 0  # with its tries counted afresh: one unanswered push fails it not


def test_nobody_ever_sees_a_secret(staff, data, settings):
    settings.HUBSPOT_ACCESS_TOKEN = "pat-na1-hubspot-token-for-this-test"
    tenant = data["tenant"]
    tenant.forge_system_token_encrypted = __import__("core.crypto").crypto.encrypt("forge-system-token-value")
    tenant.save()
    secrets = [
        tenant.shared_secret,
        tenant.shared_secret_encrypted,
        "forge-system-token-value",
        tenant.forge_system_token_encrypted,
        settings.HUBSPOT_ACCESS_TOKEN,
        *settings.FIELD_ENCRYPTION_KEYS,
        TOTPDevice.objects.first().key if TOTPDevice.objects.exists() else "no-device-yet",
    ]
    client = staff("superuser")
    secrets.append(TOTPDevice.objects.get(user__username="superuser-user").key)
    from django.contrib import admin

    listings = {model: client.get(url(model=model)) for model in admin.site._registry}
    rows = [row for model in admin.site._registry if (row := model._default_manager.first()) is not None]
    details = {type(row): client.get(url(row)) for row in rows}
    # Every model has a list page, and the detail pages crawled include those of every row that holds a secret.
    assert len(listings) > 10 and {Tenant, TOTPDevice, type(TOTPDevice.objects.get().user)} <= set(details)
    for model, page in [*listings.items(), *details.items()]:
        assert page.status_code == 200, model
        body = page.content.decode()
        for secret in secrets:
            assert secret not in body, (model, secret[:6])


# --- the audit trail ----------------------------------------------------------------------------------------------


def test_every_customer_data_view_leaves_exactly_one_entry(staff, data):
    client = staff("superuser")
    views = {
        url(model=Tenant): ("list", "tenants.tenant", data["tenant"].pk),
        url(data["tenant"]): ("view", "tenants.tenant", data["tenant"].pk),
        url(model=Checklist): ("list", "checklists.checklist", data["checklist"].pk),
        url(data["checklist"]): ("view", "checklists.checklist", data["checklist"].pk),
        url(model=ChecklistItem): ("list", "checklists.checklistitem", data["item"].pk),
        url(data["item"]): ("view", "checklists.checklistitem", data["item"].pk),
        url(data["item"], page="history/"): ("view_history", "checklists.checklistitem", data["item"].pk),
        url(model=Template): ("list", "checklists.template", data["template"].pk),
        url(data["template"]): ("view", "checklists.template", data["template"].pk),
        url(model=ChecklistChange): ("list", "checklists.checklistchange", data["change"].pk),
        url(data["change"]): ("view", "checklists.checklistchange", data["change"].pk),
        url(model=Contact): ("list", "contacts.contact", data["contact"].pk),
        url(data["contact"]): ("view", "contacts.contact", data["contact"].pk),
        url(model=License): ("list", "contacts.license", data["license"].pk),
        url(data["license"]): ("view", "contacts.license", data["license"].pk),
    }
    for page, (action, model, pk) in views.items():
        before = AuditEntry.objects.count()
        assert client.get(page, REMOTE_ADDR="203.0.113.7").status_code == 200, page
        assert AuditEntry.objects.count() == before + 1, page
        entry = AuditEntry.objects.order_by("-created_at").first()
        assert (entry.action, entry.model, entry.actor_username) == (action, model, "superuser-user"), page
        assert str(pk) in entry.object_ids and entry.ip_address == "203.0.113.7"
    # Names records, never their data.
    for entry in AuditEntry.objects.all():
        flat = repr(entry.__dict__)
        assert SECRET_TEXT not in flat and EMAIL not in flat and TEMPLATE_TEXT not in flat


def test_changes_actions_and_exports_are_audited(staff, data, hubspot):
    client = staff("superuser")
    form = client.get(url(data["contact"])).content.decode()
    management = dict(re.findall(r'name="([\w-]+_FORMS)" value="(\d+)"', form))
    response = client.post(url(data["contact"]), {"display_name": "Bea B.", **management})
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.order_by("-created_at").first()
    assert (entry.action, entry.object_ids) == ("change", [str(data["contact"].pk)])

    export = client.post(url(model=Contact), {"action": "export_csv", "_selected_action": [str(data["contact"].pk)]})
    assert export.status_code == 200 and EMAIL in export.content.decode()
    entry = AuditEntry.objects.order_by("-created_at").first()
    assert (entry.action, entry.detail, entry.object_count) == ("export", "export_csv", 1)

    client.post(url(model=Contact), {"action": "retry_sync", "select_across": "1", "_selected_action": ["x"]})
    entry = AuditEntry.objects.order_by("-created_at").first()
    assert (entry.action, entry.detail, entry.object_ids, entry.object_count) == ("action", "retry_sync", ["*"], 1)


def test_the_audit_log_is_append_only_and_superuser_only(staff, data):
    superuser = staff("superuser")
    superuser.get(url(model=Tenant))
    entry = AuditEntry.objects.first()
    assert superuser.get(url(entry)).status_code == 200
    assert superuser.post(url(entry), {"action": "list"}).status_code == 403
    assert superuser.post(url(entry, page="delete/"), {"post": "yes"}).status_code == 403
    assert superuser.get(url(model=AuditEntry, page="add/")).status_code == 403
    for attempt in (
        lambda: entry.save(),
        lambda: entry.delete(),
        lambda: AuditEntry.objects.all().delete(),
        lambda: AuditEntry.objects.update(action="view"),
    ):
        with pytest.raises(AppendOnlyError):
            attempt()
    assert staff("customer-data").get(url(model=AuditEntry)).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk, action="list").exists()


# --- list pages at scale -----------------------------------------------------------------------------------------


def _copies_of_an_item(data, count: int) -> None:
    """`count` items, "item 1" to "item <count>", written by SQLite itself from one the ORM saved: bulk_create spent
    20 s of CPU compiling 100,000 rows' values, for a test about what the admin page reads."""
    first = ChecklistItem.objects.create(tenant=data["tenant"], checklist=data["checklist"], text="item 0")
    table = connection.ops.quote_name(ChecklistItem._meta.db_table)
    pk = ChecklistItem._meta.pk
    columns = [field.column for field in ChecklistItem._meta.concrete_fields]
    fresh = {pk.column: "lower(hex(randomblob(16)))", "text": "'item ' || n"}  # a UUID as Django stores it here
    values = ", ".join(fresh.get(column, f"{table}.{connection.ops.quote_name(column)}") for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %s) "
            f"INSERT INTO {table} ({', '.join(map(connection.ops.quote_name, columns))}) "
            f"SELECT {values} FROM seq, {table} WHERE {table}.{connection.ops.quote_name(pk.column)} = %s",
            [count - 1, pk.get_db_prep_value(first.pk, connection)],
        )


@pytest.mark.slow(seconds=10)
@pytest.mark.usefixtures("long_db_operations")
def test_a_list_of_100000_items_costs_a_bounded_number_of_queries(staff, data):
    # SecantusDB (the MongoDB half of the suite) is a Python server that sorts and counts by scanning every row of a
    # page's query: there the same assertions run on 2,000 rows (20 pages, still far more than one).
    large = 2_000 if connection.vendor == "mongodb" else 100_000
    client = staff("customer-data")
    queries_for = {}
    for size in (ChecklistItem.objects.count(), large):
        missing = size - ChecklistItem.objects.count()
        if missing and connection.vendor == "sqlite":
            _copies_of_an_item(data, missing)
        else:
            ChecklistItem.objects.bulk_create(
                [
                    ChecklistItem(tenant=data["tenant"], checklist=data["checklist"], text=f"item {n}")
                    for n in range(missing)
                ],
                batch_size=5000,
            )
        for query in ({}, {"status__exact": "todo"}, {"q": "DEMO-1"}, {"o": "-2"}):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url(model=ChecklistItem), query)
            assert response.status_code == 200, query
            rows = response.content.decode().count('<td class="field-status">')
            matching = ChecklistItem.objects.filter(status="todo").count() if "status__exact" in query else size
            assert rows == min(matching, 100), query  # one page of rows at most
            queries_for.setdefault(size, []).append(len(queries))
    assert ChecklistItem.objects.count() == large
    # session, user, OTP device, the role's permissions (2), the page's COUNT, its rows, their checklists, their
    # tenants, the audit entry (plus one to resolve a searched issue key): the same whatever the table's size, and no
    # query per row. On SecantusDB three more: its permission backend reads the app labels, the user's groups and
    # their permissions' ids apart, without a join (staff/secantus.py).
    expected = [13, 13, 14, 13] if connection.vendor == "mongodb" else [10, 10, 11, 10]
    small, big = queries_for.values()
    assert small == big == expected, queries_for


@pytest.mark.usefixtures("long_db_operations")
def test_sync_roles_takes_back_a_permission_granted_by_hand():
    from django.contrib.auth.models import Group, Permission

    support = Group.objects.get(name="Support")
    support.permissions.add(Permission.objects.get(codename="view_item_text"))
    call_command("sync_roles", stdout=io.StringIO())
    codenames = set(support.permissions.values_list("codename", flat=True))
    assert codenames == {"view_tenant", "view_checklist", "view_checklistitem", "view_template"}


@pytest.mark.usefixtures("long_db_operations")
def test_sync_roles_recreates_a_missing_role_permission():
    from django.contrib.auth.models import Group, Permission

    Permission.objects.filter(codename="retry_sync").delete()  # as a database migrated before the permission existed
    call_command("sync_roles", stdout=io.StringIO())
    billing = Group.objects.get(name="Billing and CRM")
    assert "retry_sync" in set(billing.permissions.values_list("codename", flat=True))
    assert Permission.objects.filter(codename="retry_sync").count() == 1


def test_sync_roles_reads_little_when_every_permission_exists():
    # Each `createstaff` syncs the roles: with every permission in place that is the roles' permissions (content
    # types and permissions, 2 queries) and, per role, its group and its current permissions; no read of every app's
    # content types and permissions (about ninety queries, seconds a test on SecantusDB).
    from staff.roles import ROLES, sync_roles

    with CaptureQueriesContext(connection) as queries:
        sync_roles()
    assert len(queries) <= 2 + 3 * len(ROLES), [q["sql"] for q in queries]


def test_permissions_come_from_the_role_and_from_the_user_itself(monkeypatch):
    # On SecantusDB a backend of our own reads them (staff/secantus.py): it must give what Django's ModelBackend does.
    from django.contrib.auth.models import Permission, User

    create_staff("una", "support", monkeypatch)
    user = User.objects.get(username="una")
    assert user.get_group_permissions() == {
        "tenants.view_tenant",
        "checklists.view_checklist",
        "checklists.view_checklistitem",
        "checklists.view_template",
    }
    assert user.get_user_permissions() == set() and not user.has_perm("contacts.view_contact")
    user.user_permissions.add(Permission.objects.get(codename="view_contact"))
    user = User.objects.get(pk=user.pk)  # a fresh instance: permissions are cached on it
    assert user.get_user_permissions() == {"contacts.view_contact"}
    assert user.has_perm("contacts.view_contact") and user.has_perm("checklists.view_template")
    user.groups.clear()
    user = User.objects.get(pk=user.pk)
    assert user.get_all_permissions() == {"contacts.view_contact"}


def test_reset_otp_replaces_the_second_factor(monkeypatch):
    create_staff("rex", "support", monkeypatch)
    old = TOTPDevice.objects.get(user__username="rex")
    out = io.StringIO()
    call_command("createstaff", "rex", role="support", reset_otp=True, no_qr=True, stdout=out)
    new = TOTPDevice.objects.get(user__username="rex")
    assert new.pk != old.pk and new.key != old.key and new.config_url in out.getvalue()
    assert "Password:" not in out.getvalue()  # the password stays as it was
    # A code the lost authenticator shows now (within its accepted drift) that the new device would not accept: two
    # random keys agree on one code one time in a million, on all three drifts practically never.
    new_codes = {code_for(new, drift) for drift in (-1, 0, 1)}
    old_code = next(code for code in (code_for(old, drift) for drift in (0, -1, 1)) if code not in new_codes)
    assert login(Client(), "rex", token=old_code).status_code == 200  # the lost authenticator no longer works
    new.refresh_from_db()
    new.throttle_reset()  # that wrong code slowed the new device down (django-otp throttling)
    assert login(Client(), "rex").status_code == 302


def test_the_users_page_says_who_cannot_sign_in_and_how_staff_are_made(staff, monkeypatch):
    """A new superuser's first guess, Users > Add, makes someone with no second factor, who then meets "Sign-in
    failed" at every attempt while nothing in the console says why. The list names who has none and the command that
    gives one; the add page says staff are made with createstaff."""
    from django.contrib.auth.models import User

    client = staff("superuser")
    User.objects.create_user("added-in-console", password=PASSWORD, is_staff=True)
    listing = client.get("/admin/auth/user/").content.decode()
    assert "Second factor" in listing
    row = listing[listing.index(">added-in-console</a>") :]
    row = row[: row.index("</tr>")]
    assert "none: createstaff added-in-console --role ROLE --reset-otp" in row
    mine = listing[listing.index(">superuser-user</a>") :]
    assert "authenticator" in mine[: mine.index("</tr>")]
    add = client.get("/admin/auth/user/add/").content.decode()
    assert "manage.py createstaff NAME --role ROLE" in add


def test_a_sites_page_links_to_its_checklists_and_templates(staff, data, other_tenant):
    """Finding a site's data as support would: from the site's page, its checklists and templates, listed for that
    site alone (before, the site's page led nowhere; the lists had to be searched by its address)."""
    client = staff("support")
    page = client.get(url(data["tenant"])).content.decode()
    checklists = f"/admin/checklists/checklist/?tenant__id__exact={data['tenant'].pk}"
    templates = f"/admin/checklists/template/?tenant__id__exact={data['tenant'].pk}"
    assert checklists in page and templates in page
    Checklist.objects.create(tenant=other_tenant, issue_id="20001", issue_key="OTHER-1", project_id="1")
    listed = client.get(checklists)
    assert listed.status_code == 200
    assert [c.pk for c in listed.context["cl"].result_list] == [data["checklist"].pk]
    assert client.get(templates).context["cl"].result_list[0].pk == data["template"].pk
