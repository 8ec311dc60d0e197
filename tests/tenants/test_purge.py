"""Uninstalled sites: kept for the grace period (a reinstall restores access), then purged with nothing left."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.core import serializers
from django.utils import timezone

from checklists import services as checklist_services
from contacts.models import Contact, ContactLink, License
from tenants import tasks
from tenants.models import SiteTokenUse, Tenant, TenantState
from tenants.site_tokens import site_token_create
from tests.conftest import Api, issue_ref, signed_install

pytestmark = pytest.mark.django_db(transaction=True)


def seed(tenant):
    api = Api(__import__("django.test").test.Client(), tenant)
    assert api.put_text("- [ ] Secret step of the site\n- [x] Done\n").status_code == 200
    checklist_services.template_create(
        tenant=tenant, actor=checklist_services.Actor("557058:alice"), data={"name": "T", "text": "- [ ] x"}
    )
    only_here = Contact.objects.create(email="only@site.example", display_name="Only")
    shared = Contact.objects.create(email="shared@example.com", display_name="Shared")
    here = License.objects.create(addon_license_id="SEN-1", cloud_site_hostname="site.example", tenant=tenant)
    elsewhere = License.objects.create(addon_license_id="SEN-2", cloud_site_hostname="other.example")
    ContactLink.objects.create(contact=only_here, license=here, role="technical")
    ContactLink.objects.create(contact=shared, license=here, role="billing")
    ContactLink.objects.create(contact=shared, license=elsewhere, role="billing")
    # A site API token, created by a Jira admin of the site and used once (its audit).
    row, token = site_token_create(tenant=tenant, name="Automation", scope="read", created_by="557058:site-admin")
    assert api.client.get(api.url(), HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    return api


def uninstall(client, standin, days_ago):
    assert signed_install(client, standin, path="/connect/uninstalled").status_code == 204
    Tenant.objects.filter(client_key=standin.client_key).update(
        uninstalled_at=timezone.now() - timedelta(days=days_ago)
    )


# The two logs that name records by id by design (README, "Uninstalled sites"): they name nobody once those are gone.
NAMING_BY_ID = {"staff.AuditEntry", "admin.LogEntry"}


def everything_stored() -> str:
    """Every model's rows, not only those backups hold: a table the purge forgets is found whatever app it is in."""
    return "".join(
        serializers.serialize("json", model._base_manager.all())
        for model in apps.get_models()
        if model._meta.label not in NAMING_BY_ID
    )


def test_a_reinstall_within_the_grace_period_restores_access(client, standin, tenant):
    seed(tenant)
    uninstall(client, standin, days_ago=89)
    tasks.tenant_purge_expired_task.delay()
    assert Tenant.objects.filter(pk=tenant.pk, state=TenantState.UNINSTALLED).exists()
    assert signed_install(client, standin).status_code == 204
    tenant.refresh_from_db()
    body = Api(client, tenant).get().json()
    assert [item["text"] for item in body["items"]] == ["Secret step of the site", "Done"]


def test_after_the_grace_period_nothing_of_the_site_remains(client, standin, tenant, other_tenant):
    seed(tenant)
    kept = Api(client, other_tenant)
    checklist_services.checklist_replace_text(
        tenant=other_tenant, issue=issue_ref(), actor=checklist_services.Actor("557058:zed"), text="- [ ] B stays\n"
    )
    uninstall(client, standin, days_ago=91)
    tenant_id = str(tenant.pk)
    tasks.tenant_purge_expired_task.delay()
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    stored = everything_stored()
    for trace in (
        tenant_id,
        standin.client_key,
        standin.base_url,
        "Secret step of the site",
        "only@site.example",
        "SEN-1",
        "557058:site-admin",
    ):
        assert trace not in stored, trace
    # What belongs to others stays: site B's checklist, and a contact who also pays for another license.
    assert "B stays" in stored and Contact.objects.filter(email="shared@example.com").exists()
    assert kept.get().status_code == 200
    # A reinstall after the purge starts empty.
    assert signed_install(client, standin).status_code == 204
    fresh = Tenant.objects.get(client_key=standin.client_key)
    assert fresh.pk != tenant.pk
    assert Api(client, fresh).get().json()["items"] == []


def test_active_and_recently_uninstalled_sites_are_not_purged(client, standin, tenant, other_tenant):
    seed(tenant)
    uninstall(client, standin, days_ago=30)
    tasks.tenant_purge_expired_task.delay()
    assert Tenant.objects.count() == 2
    assert apps.get_model("checklists.ChecklistItem").objects.filter(tenant=tenant).count() == 2


def test_a_superuser_purges_one_site_at_once_after_confirming(staff, standin, tenant, other_tenant):
    seed(tenant)
    support = staff("support")
    form = {"action": "purge_now", "_selected_action": [str(tenant.pk)]}
    assert "purge_now" not in support.get("/admin/tenants/tenant/").content.decode()
    support.post("/admin/tenants/tenant/", {**form, "confirm": "purge"})
    assert Tenant.objects.filter(pk=tenant.pk).exists()

    superuser = staff("superuser")
    question = superuser.post("/admin/tenants/tenant/", form)
    assert question.status_code == 200 and b"Type <code>purge</code>" in question.content
    assert Tenant.objects.filter(pk=tenant.pk).exists()
    done = superuser.post("/admin/tenants/tenant/", {**form, "confirm": "purge"})
    assert done.status_code == 302
    assert not Tenant.objects.filter(pk=tenant.pk).exists() and Tenant.objects.filter(pk=other_tenant.pk).exists()
    assert tenant.client_key not in everything_stored()
    entry = apps.get_model("staff.AuditEntry").objects.get(detail="purge_now")
    assert entry.object_ids == [str(tenant.pk)] and entry.actor_username == "superuser-user"


def test_a_write_on_its_way_when_its_site_is_purged_stores_nothing_and_answers_404(client, standin, tenant, settings):
    """The write authenticated before the purge and waited on Jira's permission answer meanwhile. It must not store
    the site's first checklist again (on MongoDB no foreign key refuses the row), nor answer "being edited by others"
    (SQLite's foreign key failed its commit five times)."""
    import threading

    from django.db import connection

    from checklists.models import Checklist, ChecklistItem
    from tenants.services import tenant_purge
    from tests.conftest import wait_for

    settings.PERMISSION_CACHE_SECONDS = 0  # Jira is asked on this write, and answers slowly
    standin.permissions_fault, standin.permissions_delay = "slow", 1.0
    api = Api(client, tenant)
    answers = []

    def write() -> None:
        try:
            answers.append(api.add("stored after the purge?"))
        finally:
            connection.close()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert wait_for(lambda: standin.permission_checks, 30)  # the write is on its way, waiting for Jira
    tenant_purge(tenant=tenant)
    writer.join(60)
    assert answers and answers[0].status_code == 404, answers and answers[0].content
    assert answers[0].json()["error"] == "not_found"
    assert not Checklist.objects.filter(tenant_id=tenant.pk).exists()
    assert not ChecklistItem.objects.filter(tenant_id=tenant.pk).exists()


def test_a_purge_runs_its_deletion_again_later_for_what_writes_on_their_way_stored(
    client, standin, tenant, start_worker, broker_url, settings
):
    import json
    import uuid

    import redis
    from django.db import connection

    from checklists.models import Template
    from herochecklist.celery import app
    from tenants.services import tenant_purge

    seed(tenant)
    tenant_id = str(tenant.pk)
    tenant_purge(tenant=tenant)
    queued = [json.loads(m) for m in redis.Redis.from_url(broker_url).lrange(app.conf.task_default_queue, 0, -1)]
    later = [m["headers"] for m in queued if m["headers"]["task"] == tasks.tenant_purge_leftovers_task.name]
    assert len(later) == 1 and later[0]["eta"], queued  # queued with its delay: once writes on their way are done
    if connection.vendor == "mongodb":  # no foreign key refuses a row of a site that is gone (SQLite's does)
        Template.objects.create(tenant_id=tenant_id, name="Stored after the purge", text="- [ ] late")
        # A site token's call that authenticated before the purge records its use after it.
        SiteTokenUse.objects.create(tenant_id=tenant_id, token_id=uuid.uuid4(), actor="app:token:late", action="GET")
    # Run moments after the purge committed (a purge nearly as long as the delay): not due yet, writes may still be
    # on their way. Before, it deleted then, and what they stored after it stayed.
    tasks.tenant_purge_leftovers_task(tenant_id, timezone.now().timestamp())
    if connection.vendor == "mongodb":
        assert Template.objects.filter(tenant_id=tenant_id).exists()
    settings.TENANT_PURGE_LEFTOVERS_DELAY_SECONDS = (
        0  # the delay since the commit is over (the audit log is append-only)
    )
    tasks.tenant_purge_leftovers_task(tenant_id)
    assert not Template.objects.filter(tenant_id=tenant_id).exists()
    assert not SiteTokenUse.objects.filter(tenant_id=tenant_id).exists()
    assert tenant.client_key not in everything_stored()


def test_a_follow_up_due_while_its_purge_still_runs_looks_again_until_the_purge_could_have_ended(tenant, settings):
    """Its countdown starts before the purge: on a purge longer than the delay it ran while the purge's transaction
    was still open, found the site's row, and did nothing, for good (what writes on their way stored stayed)."""
    from tenants.services import TENANT_PURGE_LONGEST_SECONDS, tenant_purge_leftovers_wait

    delay = settings.TENANT_PURGE_LEFTOVERS_DELAY_SECONDS
    now = timezone.now()
    queued_at = (now - timedelta(seconds=delay)).timestamp()  # due now, its purge still running
    assert tenant_purge_leftovers_wait(tenant_id=str(tenant.pk), queued_at=queued_at, now=now) == delay
    near_the_end = now + timedelta(seconds=TENANT_PURGE_LONGEST_SECONDS - delay - 10)
    assert tenant_purge_leftovers_wait(tenant_id=str(tenant.pk), queued_at=queued_at, now=near_the_end) == 10
    # Past the longest a purge can run, the row still there: the purge was refused or rolled back. Nothing to do.
    later = now + timedelta(seconds=TENANT_PURGE_LONGEST_SECONDS)
    assert tenant_purge_leftovers_wait(tenant_id=str(tenant.pk), queued_at=queued_at, now=later) == 0


def test_a_follow_up_counts_its_delay_from_the_purges_commit(tenant, settings):
    from tenants.services import tenant_purge, tenant_purge_leftovers_wait

    tenant_id = str(tenant.pk)
    queued_at = (timezone.now() - timedelta(hours=1)).timestamp()  # a purge that ran for an hour
    tenant_purge(tenant=tenant)
    delay = settings.TENANT_PURGE_LEFTOVERS_DELAY_SECONDS
    assert delay - 60 < tenant_purge_leftovers_wait(tenant_id=tenant_id, queued_at=queued_at) <= delay
    after = timezone.now() + timedelta(seconds=delay + 1)
    assert tenant_purge_leftovers_wait(tenant_id=tenant_id, queued_at=queued_at, now=after) == 0


@pytest.fixture
def broker_down(own_redis, start_worker):
    """A broker of this test's own (start_worker publishes to it), stopped: publishing raises."""
    own_redis.stop()
    yield own_redis
    own_redis.start()


@pytest.fixture
def broker_url(own_redis):
    return own_redis.url()


def test_a_purge_whose_follow_up_cannot_be_queued_purges_nothing_and_the_retry_queues_it(
    staff, standin, tenant, broker_down
):
    """The follow-up deletion was queued after the purge committed: with the broker down it was lost (logged), and
    nothing ever queued it again, since the site it would look for is gone: whatever a write on its way stored after
    the purge stayed for good. It is queued before the purge now (run for a site that still exists, it does nothing),
    so a purge never lands without it: with the broker down the purge is refused, and tried again later."""
    import json

    import redis
    from kombu.exceptions import KombuError
    from redis.exceptions import RedisError

    from herochecklist.celery import app
    from tenants.services import tenant_purge

    seed(tenant)
    with pytest.raises((KombuError, RedisError)):
        tenant_purge(tenant=tenant)
    assert Tenant.objects.filter(pk=tenant.pk).exists() and "Secret step of the site" in everything_stored()
    done = staff("superuser").post(
        "/admin/tenants/tenant/", {"action": "purge_now", "_selected_action": [str(tenant.pk)], "confirm": "purge"}
    )
    assert done.status_code == 302  # the console says so, not a 500
    assert Tenant.objects.filter(pk=tenant.pk).exists()

    broker_down.start()
    tenant_purge(tenant=tenant)
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    queued = [json.loads(m) for m in redis.Redis.from_url(broker_down.url()).lrange(app.conf.task_default_queue, 0, -1)]
    later = [m["headers"] for m in queued if m["headers"]["task"] == tasks.tenant_purge_leftovers_task.name]
    assert len(later) == 1 and later[0]["eta"], queued
