"""Personal data reporting against the Jira stand-in: batches, cycle, 429, and erasing closed accounts."""

import json
from datetime import timedelta

import pytest
from django.apps import apps
from django.core import serializers
from django.core.cache import cache
from django.utils import timezone

from checklists import services as checklist_services
from checklists.models import ChecklistChange, ChecklistItem
from core.retry import MAX_RETRY_AFTER_SECONDS
from operations import backup, tasks
from operations.models import ReportedAccount
from operations.privacy import MAX_CYCLE, accounts_pseudonymise, parse_cycle_period, personal_data_report
from tenants.models import Tenant
from tests.conftest import Api, answer_at_once, issue_ref

pytestmark = pytest.mark.django_db

CLOSED = "557058:closed-person"
ACTIVE = "557058:active-person"


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def reports(standin):
    return [r for r in standin.recorded if r.path == "/app/report-accounts/"]


def seed(tenant):
    closed, active = checklist_services.Actor(CLOSED), checklist_services.Actor(ACTIVE)
    checklist_services.checklist_replace_text(
        tenant=tenant, issue=issue_ref(), actor=closed, text=f"- [ ] Review {{@{CLOSED}}}\n- [ ] Ship {{@{ACTIVE}}}\n"
    )
    item = ChecklistItem.objects.get(text="Review")
    checklist_services.item_update(
        tenant=tenant, issue=issue_ref(), actor=active, item_id=item.pk, data={"assignee_account_id": ACTIVE}
    )
    checklist_services.template_create(tenant=tenant, actor=closed, data={"name": "T", "text": "- [ ] x"})


def stored() -> str:
    return "".join(serializers.serialize("json", apps.get_model(m)._base_manager.all()) for m in backup.MODELS)


def test_closed_accounts_are_erased_everywhere(tenant, standin):
    seed(tenant)
    standin.closed_accounts = {CLOSED}
    assert CLOSED in stored()
    assert any(CLOSED in json.dumps(c.changes) for c in ChecklistChange.objects.all())  # history names it
    tasks.personal_data_report_task.delay()
    [call] = reports(standin)
    assert call.authorization_ok
    assert sorted(a["accountId"] for a in call.body["accounts"]) == [ACTIVE, CLOSED]
    assert all(a["updatedAt"].endswith("Z") for a in call.body["accounts"])
    assert CLOSED not in stored()
    # One pseudonym stands for the person in every place, and history still reads.
    pseudonyms = {v for v in ChecklistItem.objects.values_list("created_by", flat=True)}
    assert len(pseudonyms) == 1 and next(iter(pseudonyms)).startswith("closed-account-")
    assert list(ReportedAccount.objects.values_list("account_id", flat=True)) == [ACTIVE]
    assert ACTIVE in stored()


def test_each_account_is_reported_once_per_cycle(tenant, standin):
    seed(tenant)
    standin.cycle_period = "P1D"
    personal_data_report()
    personal_data_report()
    assert len(reports(standin)) == 1
    from datetime import timedelta

    from django.utils import timezone

    personal_data_report(now=timezone.now() + timedelta(hours=23))
    assert len(reports(standin)) == 1
    personal_data_report(now=timezone.now() + timedelta(days=1, minutes=1))
    assert len(reports(standin)) == 2


def test_batches_of_at_most_90_and_429_waits(tenant, standin):
    from datetime import timedelta

    from django.utils import timezone

    checklist = checklist_services.checklist_replace_text(
        tenant=tenant, issue=issue_ref(), actor=checklist_services.Actor("unknown"), text="- [ ] a\n"
    )
    ChecklistItem.objects.bulk_create(
        [
            ChecklistItem(tenant=tenant, checklist=checklist, text=f"i{n}", assignee_account_id=f"557058:{n:04d}")
            for n in range(200)
        ]
    )
    standin.fail_next = [None, 429]  # the first call goes through, the second is rate limited (Retry-After: 120)
    outcome = personal_data_report()
    assert [len(r.body["accounts"]) for r in reports(standin)] == [90, 90]
    assert outcome["reported"] == 90 and "waiting_until" in outcome
    personal_data_report(now=timezone.now() + timedelta(seconds=60))  # still waiting: no call
    assert len(reports(standin)) == 2
    personal_data_report(now=timezone.now() + timedelta(seconds=130))
    sizes = [len(r.body["accounts"]) for r in reports(standin)]
    assert sizes == [90, 90, 90, 20] and max(sizes) <= 90
    reported = [a["accountId"] for r in reports(standin)[2:] for a in r.body["accounts"]] + [
        a["accountId"] for a in reports(standin)[0].body["accounts"]
    ]
    assert len(set(reported)) == 200 and "unknown" not in reported


@pytest.mark.parametrize(
    "value,seconds",
    [
        ("604800", 604800),
        ("P7D", 604800),
        ("PT168H", 604800),
        ("P1W", 604800),
        ("PT90S", 90),
        ("", None),
        ("P", None),
        ("soon", None),
    ],
)
def test_cycle_period_formats(value, seconds):
    assert parse_cycle_period(value) == seconds


def test_an_erased_assignee_leaves_the_panel_at_once(client, tenant):
    api = Api(client, tenant)
    assert api.put_text(f"- [ ] Review {{@{CLOSED}}}\n- [ ] Ship\n").status_code == 200
    before = api.get().json()  # this process now holds the items of this version
    assert before["items"][0]["assigneeAccountId"] == CLOSED
    accounts_pseudonymise({CLOSED})
    after = api.get().json()
    assert after["version"] == before["version"] + 1  # open panels reload on their next poll
    assert after["items"][0]["assigneeAccountId"].startswith("closed-account-")
    assert CLOSED not in json.dumps(after)
    # The checklist of an unrelated account's erasure keeps its version.
    accounts_pseudonymise({"557058:nobody-here"})
    assert api.get().json()["version"] == after["version"]


def test_a_site_trickling_its_answer_ends_the_run_at_the_deadline_and_nothing_counts_as_reported(tenant, trickle):
    seed(tenant)
    Tenant.objects.filter(id=tenant.id).update(base_url=trickle.base_url)
    outcome = personal_data_report()
    assert "timed out" in outcome["error"] and outcome["reported"] == 0
    assert trickle.ended() == ["client"]  # OUTBOUND_DEADLINE_SECONDS ended it, not the server's 15 s
    assert not ReportedAccount.objects.exists()  # reported again next run


@pytest.mark.parametrize(
    "answer",
    [
        b"[" * 5000 + b"]" * 5000,  # nested thousands deep: httpx's .json() raised RecursionError, the run crashed
        b'{"accounts": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b"{not json",
        b"[]",
        b'{"accounts": 5}',
    ],
)
def test_an_answer_that_is_not_a_report_is_an_error_and_erases_nothing(tenant, trickle, settings, answer):
    seed(tenant)
    Tenant.objects.filter(id=tenant.id).update(base_url=trickle.base_url)
    before = stored()
    answer_at_once(trickle, settings, answer)
    outcome = personal_data_report()
    assert outcome["error"] and outcome["reported"] == 0 and outcome["closed"] == 0
    assert not ReportedAccount.objects.exists()
    assert stored() == before


@pytest.mark.parametrize("status", [302, 307])
def test_a_report_answered_with_a_redirect_counts_nobody_as_reported(tenant, standin, status):
    """A redirect is not Atlassian's answer: read as one (an answer without accounts: nobody closed), it recorded
    every account of the batch as reported, and none of them was asked about again for a whole cycle."""
    seed(tenant)
    standin.closed_accounts = {CLOSED}
    standin.fail_next = [status]
    outcome = personal_data_report()
    assert outcome["reported"] == 0 and "error" in outcome
    assert not ReportedAccount.objects.exists()
    outcome = personal_data_report()  # the next run asks again, and acts on the answer
    assert outcome["reported"] == 2 and outcome["closed"] == 1
    assert CLOSED not in stored()


def test_every_account_stored_is_reported_and_nothing_that_is_not_one(client, tenant, standin):
    """Site tokens name the Jira admins who created and revoked them; a token's writes name the token, and an erased
    account's pseudonym names nobody: neither is an account to report."""
    from tenants.models import SiteToken, SiteTokenUse
    from tenants.site_tokens import site_token_create, site_token_revoke

    seed(tenant)
    row, token = site_token_create(tenant=tenant, name="Automation", scope="write", created_by=CLOSED)
    added = client.post(
        "/api/v1/issues/10001/checklist/items",
        data={"text": "from Automation"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert added.status_code == 201, added.content
    site_token_revoke(tenant=tenant, token_id=row.id, revoked_by="557058:revoking-admin")
    standin.closed_accounts = {CLOSED}
    personal_data_report()
    [call] = reports(standin)
    assert sorted(a["accountId"] for a in call.body["accounts"]) == sorted([ACTIVE, CLOSED, "557058:revoking-admin"])
    # The closed admin is erased from the token and its audit as from everything else.
    token_rows = [*SiteToken.objects.values_list(), *SiteTokenUse.objects.values_list()]
    assert not [v for values in token_rows for v in values if v == CLOSED]
    assert SiteTokenUse.objects.filter(actor__startswith="closed-account-").exists()
    # A cycle later: the same accounts again, never the pseudonym.
    cache.clear()
    from datetime import timedelta

    from django.utils import timezone

    personal_data_report(now=timezone.now() + timedelta(days=30))
    again = reports(standin)[1]
    assert sorted(a["accountId"] for a in again.body["accounts"]) == sorted([ACTIVE, "557058:revoking-admin"])


def test_an_account_no_longer_stored_leaves_the_record_of_its_reports(tenant, standin, request):
    """After a site's purge the accountIds only it held are not kept as having been reported either."""
    from tenants.services import tenant_purge

    seed(tenant)
    personal_data_report()
    assert sorted(ReportedAccount.objects.values_list("account_id", flat=True)) == [ACTIVE, CLOSED]
    # Another site (installed after the report, which went through the first) names one of the two.
    checklist_services.checklist_replace_text(
        tenant=request.getfixturevalue("other_tenant"),
        issue=issue_ref(),
        actor=checklist_services.Actor(ACTIVE),
        text="- [ ] elsewhere\n",
    )
    tenant_purge(tenant=tenant)
    personal_data_report()
    assert list(ReportedAccount.objects.values_list("account_id", flat=True)) == [ACTIVE]


def test_accounts_only_history_or_a_template_names_are_reported_and_erased(tenant, standin):
    """An assignee whose item is gone lives on in history; a template names its assignees in its text."""
    from checklists.models import Template

    history_only, template_only = "557058:history-only", "557058:template-only"
    actor = checklist_services.Actor(ACTIVE)
    checklist_services.checklist_replace_text(
        tenant=tenant, issue=issue_ref(), actor=actor, text=f"- [ ] Gone {{@{history_only}}}\n- [ ] Stays\n"
    )
    checklist_services.checklist_replace_text(tenant=tenant, issue=issue_ref(), actor=actor, text="- [ ] Stays\n")
    assert not ChecklistItem.objects.filter(assignee_account_id=history_only).exists()
    checklist_services.template_create(
        tenant=tenant, actor=actor, data={"name": "T", "text": f"- [ ] Deploy {{@{template_only} due:2026-12-01}}"}
    )
    standin.closed_accounts = {history_only, template_only}
    personal_data_report()
    [call] = reports(standin)
    assert sorted(a["accountId"] for a in call.body["accounts"]) == sorted([ACTIVE, history_only, template_only])
    assert history_only not in stored() and template_only not in stored()
    text = Template.objects.get().text
    assert text.startswith("- [ ] Deploy {@closed-account-") and text.endswith(" due:2026-12-01}\n")


ABSURD_PERIODS = ["31536000000", "P9999999999D", "1" * 400]  # a thousand years, 27 million, a float's infinity


@pytest.mark.parametrize("cycle_period", ABSURD_PERIODS)
def test_an_absurd_cycle_period_from_jira_never_stops_the_reporting(tenant, standin, cycle_period):
    """Jira's Cycle-Period is kept (with no expiry) as the time between two reports of an account. An absurd one
    (a proxy's, a bad deploy's) made every later run fail on the date arithmetic (OverflowError) for good: no account
    was reported or erased again until someone deleted the key. Longer than MAX_CYCLE is taken as MAX_CYCLE."""
    seed(tenant)
    standin.cycle_period = cycle_period
    personal_data_report()
    assert len(reports(standin)) == 1
    standin.cycle_period = "P7D"
    assert personal_data_report()["reported"] == 0  # a cycle of its own has not passed: nothing due
    outcome = personal_data_report(now=timezone.now() + MAX_CYCLE + timedelta(minutes=1))
    assert outcome["reported"] == 2 and len(reports(standin)) == 2


@pytest.mark.parametrize("retry_after", ABSURD_PERIODS)
def test_an_absurd_retry_after_from_jira_holds_the_reporting_back_an_hour_at_most(tenant, standin, retry_after):
    """A 429's Retry-After is kept as the time before the next run may call. An absurd one crashed the run on the
    date arithmetic, or stopped the reporting for as long as it said (a thousand years)."""
    seed(tenant)
    standin.retry_after = retry_after
    standin.fail_next = [429]
    outcome = personal_data_report()
    assert "waiting_until" in outcome and outcome["reported"] == 0
    outcome = personal_data_report(now=timezone.now() + timedelta(seconds=MAX_RETRY_AFTER_SECONDS + 60))
    assert outcome["reported"] == 2 and len(reports(standin)) == 2
