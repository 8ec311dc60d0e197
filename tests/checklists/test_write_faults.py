"""Faults on the checklist write paths, injected for real: a Redis process stopped, a worker killed mid-task, another
process holding SQLite's writers' turn, Jira answering garbage, errors or a deep JSON body. The answer is JSON (an
error or a degraded success), never a 500, and no write is lost or doubled. (test_commit_faults.py has the lost
commit reply, tests/core/test_outages.py the database refusing writes and the broker down for one door.)"""

import json
import os
import signal
import threading

import pytest
import redis
from django.core.cache import cache
from django.db import connection

from checklists.models import Checklist, ChecklistItem, Template
from checklists.tasks import checklist_progress_sweep_task, checklist_progress_sync_task, forget_queued_pushes
from devhost.http import JSONHandler, StandInServer
from tenants import jira
from tenants.jira import MAX_ATTEMPTS
from tenants.selectors import tenant_cache_clear
from tenants.site_tokens import site_token_create
from tests.checklists.test_workflow_rules import _webhook
from tests.conftest import ISSUE as PANEL_ISSUE
from tests.conftest import Api, contract_part, use_cache, wait_for
from tests.core.test_db import other_writer  # noqa: F401 (a fixture: a process holding SQLite's writers' turn)
from tests.core.test_outages import metric

PROGRESS = "herochecklist-progress"
ISSUE = {"id": "10001", "key": "DEMO-1", "fields": {"project": {"id": "10000"}, "issuetype": {"id": "10002"}}}


def _post_function(client, standin, template, transition="Done"):
    config = {"action": "apply-template", "templateId": str(template.id), "mode": "append"}
    body = {"issue": ISSUE, "configuration": {"value": json.dumps(config)}, "transition": {"to": transition}}
    return _webhook(client, standin, "/workflow/post-function", body)


# --- the workflow post function: at most once per execution, however often delivered ---------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_post_function_delivered_twice_with_the_cache_down_appends_once(client, tenant, standin, settings, own_redis):
    # The execution key lived in the cache only: with the cache down, Jira's retry of one delivery appended twice.
    use_cache(settings, own_redis.url())
    own_redis.stop()
    template = Template.objects.create(tenant=tenant, name="Deploy", text="- [ ] deploy\n- [ ] verify\n")
    for _ in range(2):  # Jira delivers the same execution again (it deemed the first delivery failed)
        assert _post_function(client, standin, template).status_code == 204
    assert list(ChecklistItem.objects.order_by("position").values_list("text", flat=True)) == ["deploy", "verify"]
    assert Checklist.objects.get().version == 1
    # Another execution (another body) is another run: it appends again.
    assert _post_function(client, standin, template, transition="Review").status_code == 204
    assert ChecklistItem.objects.count() == 4


def test_a_worker_killed_mid_post_function_runs_it_once_when_delivered_again(client, tenant, standin, start_worker):
    """The worker is killed while its write waits on Jira (the workflow rules' pending mark, taken before the write
    commits); Celery delivers the task again (acks_late) to the next worker, which must run it, once. Before, the
    execution was marked done in the cache before the write: the redelivery skipped it, and the append was lost."""
    tenant.workflow_rules_in_use = True
    tenant.save()
    tenant_cache_clear()
    template = Template.objects.create(tenant=tenant, name="Deploy", text="- [ ] deploy\n- [ ] verify\n")
    env = {"CELERY_VISIBILITY_TIMEOUT": 3, "CACHE_URL": os.environ["TEST_REDIS_URL"]}
    standin.hold_puts = threading.Event()
    first = start_worker(**env)
    assert _post_function(client, standin, template).status_code == 204
    marking = lambda: [c for c in standin.recorded if c.method == "PUT"]  # noqa: E731
    assert wait_for(marking, 120), first.poll()
    first.send_signal(signal.SIGKILL)  # mid-write: its pending mark is in flight, the write not committed
    first.wait(30)
    assert not ChecklistItem.objects.exists()
    standin.hold_puts.set()
    standin.hold_puts = None

    start_worker(**env)
    expected = {"done": 0, "total": 2, "percent": 0, "mandatoryOpen": 2, "complete": "false"}
    assert wait_for(lambda: contract_part(standin.property("10001", PROGRESS)) == expected, 120), (
        standin.property("10001", PROGRESS),
        list(ChecklistItem.objects.values_list("text", flat=True)),
    )
    assert list(ChecklistItem.objects.order_by("position").values_list("text", flat=True)) == ["deploy", "verify"]
    assert Checklist.objects.get().version == 1


# --- the cache Redis down: the property push is still queued and made -----------------------------------------------


def test_with_the_cache_redis_down_a_write_still_gets_its_property_pushed(
    client, tenant, standin, settings, own_redis, start_worker
):
    # The broker is up (the suite's Redis); the cache Redis, where the push's pending marker lives, is down for the
    # web process and the worker alike. Before, flag_add raised in the write's after-commit work: no push was queued,
    # the sweep stopped at its first checklist, and a queued push failed before it wrote.
    use_cache(settings, own_redis.url())
    start_worker(CACHE_URL=own_redis.url())
    own_redis.stop()
    api = Api(client, tenant)
    failures = metric("herochecklist_after_commit_failures_total")
    assert api.add("saved with the cache down").status_code == 201
    assert metric("herochecklist_after_commit_failures_total") == failures  # queued, not lost
    expected = {"done": 0, "total": 1, "percent": 0, "mandatoryOpen": 1, "complete": "false"}
    assert wait_for(lambda: contract_part(standin.property("10001", PROGRESS)) == expected, 60)
    assert wait_for(lambda: Checklist.objects.get().property_synced_version == 1, 60)
    settings.PROGRESS_SWEEP_GRACE_SECONDS = 0
    Checklist.objects.update(property_synced_version=0)  # as if that push had been lost: the sweep makes it up
    assert checklist_progress_sweep_task() == 1
    assert wait_for(lambda: Checklist.objects.get().property_synced_version == 1, 60)


# --- the broker down at on_commit time, on every write door ----------------------------------------------------------


DOORS = ["patch", "delete", "reorder", "text", "apply-template", "automation"]


class TestTheBrokerDown:
    @pytest.fixture
    def broker_url(self, own_redis):
        return own_redis.url()

    @pytest.mark.parametrize("door", DOORS)
    def test_every_write_door_answers_its_real_status_and_writes_once(
        self, client, tenant, standin, own_redis, start_worker, door
    ):
        api = Api(client, tenant)
        first, second = (api.add(t).json()["id"] for t in ("one", "two"))
        template = Template.objects.create(tenant=tenant, name="Deploy", text="- [ ] deploy\n")
        token = site_token_create(tenant=tenant, name="Automation", scope="write", created_by="557058:alice")[1]
        own_redis.stop()  # the broker: start_worker pointed Celery at it (no worker started)
        cache.clear()  # the setup's push marker (a burst queues one push): this write queues its own ...
        forget_queued_pushes()  # ... and this process forgets that push's due time with it
        failures = metric("herochecklist_after_commit_failures_total")
        response = {
            "patch": lambda: api.patch(first, status="done"),
            "delete": lambda: api.delete(first),
            "reorder": lambda: api.call("put", api.url("/order"), {"itemIds": [second, first]}),
            "text": lambda: api.put_text("- [x] one\n- [ ] two\n"),
            "apply-template": lambda: api.call("post", api.url("/apply-template"), {"templateId": str(template.id)}),
            "automation": lambda: client.post(
                "/api/v1/automation/issues/DEMO-1/items",
                data={"text": "- [ ] three"},
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {token}",
            ),
        }[door]()
        assert response.status_code in (200, 204), response.content
        assert metric("herochecklist_after_commit_failures_total") == failures + 1  # the push not queued: logged
        checklist = Checklist.objects.get()
        assert (checklist.version, checklist.property_synced_version) == (3, 0)  # once; the sweep catches up


# --- SQLite held by another process ----------------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's writers' turn: another process holds it")
@pytest.mark.django_db(transaction=True)
def test_a_database_locked_by_another_process_answers_503_not_a_false_412(client, tenant, standin, request):
    api = Api(client, tenant)
    item = api.add("kept").json()["id"]
    request.getfixturevalue("other_writer")  # holds the turn until the test ends
    options = connection.settings_dict.setdefault("OPTIONS", {})
    saved = options.get("timeout")
    options["timeout"] = 0.3
    try:
        # Conditional on the version the client holds: nothing changed, so no 412 "changed since you loaded it".
        conditional = api.patch(item, version=1, text="edited")
        plain = api.add("added")
    finally:
        options["timeout"] = saved
    for response in (conditional, plain):
        assert response.status_code == 503, response.content
        assert response.json()["error"] == "unavailable"
        assert response["Retry-After"]
    assert list(ChecklistItem.objects.values_list("text", flat=True)) == ["kept"]
    assert Checklist.objects.get().version == 1


# --- Jira answering JSON nested thousands deep -----------------------------------------------------------------------


class _DeepJson(JSONHandler):
    """Any call: 200 with a JSON array nested 100,000 deep (which Python's decoder cannot read without recursing)."""

    def _deep(self):
        self._body()
        self._send(200, b"[" * 100_000 + b"]" * 100_000)

    do_GET = do_POST = do_PUT = _deep


@pytest.fixture
def deep_jira():
    server = StandInServer(0, _DeepJson).start()
    yield server
    server.stop()


@pytest.mark.django_db
def test_a_permission_answer_nested_thousands_deep_fails_closed_not_500(client, tenant, deep_jira):
    api = Api(client, tenant, account_id="557058:bob")
    tenant.base_url = deep_jira.base_url
    tenant.save()
    tenant_cache_clear()
    response = api.add("unchecked")
    assert response.status_code == 403, response.content
    assert response.json()["error"] == "forbidden"
    assert not ChecklistItem.objects.exists()


@pytest.mark.django_db
def test_an_issue_lookup_nested_thousands_deep_is_503_jira_unavailable(client, tenant, deep_jira):
    token = site_token_create(tenant=tenant, name="Automation", scope="write", created_by="557058:alice")[1]
    tenant.base_url = deep_jira.base_url
    tenant.save()
    tenant_cache_clear()
    response = client.post(
        "/api/v1/automation/issues/DEMO-1/items",
        data={"text": "- [ ] step"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 503, response.content
    assert response.json()["error"] == "jira_unavailable"
    assert not ChecklistItem.objects.exists()


# --- the property push: Jira refusing, rate limiting with odd Retry-After --------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", [401, 404])
def test_a_push_jira_refuses_gives_up_once_and_the_sweep_tries_again(client, tenant, standin, settings, status):
    # 401: the site uninstalled the app mid push; 404: the issue was deleted. Not retried in a loop, no crash.
    settings.PROGRESS_SWEEP_GRACE_SECONDS = 0
    settings.PROGRESS_SWEEP_FAILED_RETRY_SECONDS = 0  # a refused push waits this long for its next sweep
    api = Api(client, tenant)
    assert api.add("one").status_code == 201
    checklist = Checklist.objects.get()
    standin.fail_next = [status]
    checklist_progress_sync_task.apply(args=[str(checklist.id)], throw=True)
    assert len([c for c in standin.recorded if c.method == "PUT"]) == 1
    assert Checklist.objects.get().property_synced_version == 0
    assert checklist_progress_sweep_task() == 1  # the next sweep tries again, and Jira takes it
    assert Checklist.objects.get().property_synced_version == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_push_jira_redirects_elsewhere_is_not_taken_as_written(client, tenant, standin, settings, status):
    """A redirect (a renamed site's old address, a proxy's sign-in page) wrote nothing: the push was counted as
    written and the checklist as synced, so the sweep never made it up and JQL kept the old progress for good."""
    settings.PROGRESS_SWEEP_GRACE_SECONDS = 0
    settings.PROGRESS_SWEEP_FAILED_RETRY_SECONDS = 0
    assert Api(client, tenant).add("one").status_code == 201
    checklist = Checklist.objects.get()
    standin.fail_next = [status]
    checklist_progress_sync_task.apply(args=[str(checklist.id)], throw=True)
    assert [c.method for c in standin.recorded] == ["PUT"]  # not followed: the JWT is for this site and path only
    assert standin.property("10001", PROGRESS) is None
    assert Checklist.objects.get().property_synced_version == 0
    assert Checklist.objects.get().property_sync_failed_at is not None  # as for any refusal: the sweep tries again
    assert checklist_progress_sweep_task() == 1
    assert contract_part(standin.property("10001", PROGRESS))["total"] == 1
    assert Checklist.objects.get().property_synced_version == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("retry_after", ["-5", "nan", "inf", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", "0"])
def test_a_push_rate_limited_with_an_odd_retry_after_backs_off_and_lands(client, tenant, standin, retry_after):
    api = Api(client, tenant)
    assert api.add("one").status_code == 201
    checklist = Checklist.objects.get()
    standin.retry_after = retry_after
    standin.fail_next = [429, 429]
    checklist_progress_sync_task.apply(args=[str(checklist.id)], throw=True)
    assert len([c for c in standin.recorded if c.method == "PUT"]) == 3
    assert contract_part(standin.property("10001", PROGRESS))["total"] == 1
    assert Checklist.objects.get().property_synced_version == 1


# --- the MCP door: a database that refuses writes is said to be unavailable -----------------------------------------


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query_only makes the database refuse writes")
@pytest.mark.django_db(transaction=True)
def test_an_mcp_write_with_the_database_refusing_says_unavailable_not_a_bare_error(tenant, standin):
    from mcp.server.mcpserver.exceptions import ToolError

    from checklists import mcp_server
    from tenants.auth.site_token import verify_site_token

    token = site_token_create(tenant=tenant, name="Agent", scope="write", created_by="557058:alice")[1]
    auth = mcp_server._auth.set(verify_site_token(token))
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA query_only = 1")
    try:
        with pytest.raises(ToolError) as refused:
            mcp_server.add_items("DEMO-1", "- [ ] step")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA query_only = 0")
        mcp_server._auth.reset(auth)
    # Said as the API says it (503 there): an agent waits and retries; it does not take it for its own mistake.
    assert str(refused.value) == "The service is temporarily unavailable; please retry."
    assert not ChecklistItem.objects.exists()


# --- Jira rate limiting with a long Retry-After: never cut short, in a request or in the push's task ---------------


@pytest.mark.parametrize("door", ["automation", "guarded panel write"])
def test_a_long_retry_after_ends_a_requests_jira_call_at_once_not_after_a_nap_and_an_early_retry(
    client, tenant, standin, door
):
    # Jira asks for two minutes. The request's call to Jira (the automation's issue lookup, the workflow rules'
    # pending mark) slept 30 s holding the web worker, then asked again 90 s too early: 429 again, and a 503 anyway.
    standin.retry_after = "120"
    standin.fail_next = [429, 429]
    if door == "automation":
        token = site_token_create(tenant=tenant, name="Automation", scope="write", created_by="557058:alice")[1]
        response = client.post(
            "/api/v1/automation/issues/DEMO-1/items",
            data={"text": "- [ ] three"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
    else:
        tenant.workflow_rules_in_use = True
        tenant.save()
        tenant_cache_clear()
        response = Api(client, tenant).add("step")
    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response["Retry-After"] == "120"  # Jira's ask, passed on: a client coming back sooner meets the same 429
    assert len(standin.recorded) == 1  # asked once: not again before the time Jira gave
    assert not ChecklistItem.objects.exists()


@pytest.fixture
def retry_published(own_redis, start_worker):
    """Runs the push's task body as a worker would (not eagerly: its retry is published to a real broker, own_redis,
    where no worker takes it) and returns the Retry it raised (its `when`: the retry's countdown)."""
    from celery.exceptions import Retry

    def run(checklist_id: str) -> Retry:
        task = checklist_progress_sync_task
        task.push_request(id="push-1", args=[checklist_id], kwargs={}, retries=0, called_directly=False)
        try:
            task.run(checklist_id)
        except Retry as retry:
            return retry
        finally:
            task.pop_request()
        raise AssertionError("the push was not retried")

    return run


class TestALongRetryAfterOnThePush:
    @pytest.fixture
    def broker_url(self, own_redis):
        return own_redis.url()

    def test_the_retry_waits_as_long_as_jira_asked_and_jira_is_asked_once_meanwhile(
        self, client, tenant, standin, settings, own_redis, retry_published
    ):
        # Before: the client slept 30 s three times (asking Jira again each time, 90 s before it said to), then the
        # task retried after its own backoff (5 to 10 s): Jira's two minutes were never waited.
        settings.PROGRESS_SYNC_RETRY_BASE_SECONDS = 5
        Checklist.objects.create(tenant=tenant, issue_id="10001", issue_key="DEMO-1", version=1)
        standin.retry_after = "120"
        standin.fail_next = [429] * 4
        retry = retry_published(str(Checklist.objects.get().id))
        assert [c.method for c in standin.recorded] == ["PUT"]
        assert retry.when >= 120
        assert (
            redis.Redis.from_url(own_redis.url()).llen(checklist_progress_sync_task.app.conf.task_default_queue) == 1
        )  # published
        assert Checklist.objects.get().property_synced_version == 0


def _broker_idle(url: str, queue: str) -> bool:
    """Nothing queued and nothing handed to a worker unacknowledged (kombu's Redis transport keeps the latter in its
    `unacked` hash until the task is done)."""
    broker = redis.Redis.from_url(url)
    return broker.llen(queue) == 0 and broker.hlen("unacked") == 0


def _runs(log, task) -> list[str]:
    """How each run of `task` ended, from a worker's INFO log (celery.app.trace: "succeeded", "retry", ...)."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [
        line["message"].split("]", 1)[1].split()[0].rstrip(":")
        for line in lines
        if line.get("logger") == "celery.app.trace" and line["message"].startswith(f"Task {task.name}[")
    ]


class TestARetryDueAfterTheVisibilityTimeout:
    @pytest.fixture
    def broker_url(self, own_redis):
        return own_redis.url()

    def test_runs_once_not_once_per_redelivery(
        self, client, tenant, standin, settings, own_redis, start_worker, tmp_path
    ):
        """A worker holds a task with a countdown, unacknowledged, until it is due; Redis hands a task unacknowledged
        for CELERY_VISIBILITY_TIMEOUT to a worker again. A push that Jira told to wait longer than that (its retry's
        countdown) was delivered again every visibility timeout while it waited, and every copy ran when due (ten
        here; had Jira refused again, each copy's retry would have multiplied them). core/tasks.py. Real prefork
        worker (the production pool: the solo pool restores nothing while it runs), real broker, the visibility
        timeout cut to seconds."""
        settings.PROGRESS_SYNC_DELAY_SECONDS = 0
        # Beyond what the client waits in line (tenants/jira.py: the task retries after it), and ten times the
        # worker's visibility timeout.
        standin.retry_after = str(jira.MAX_RETRY_AFTER_SECONDS + 10)
        standin.fail_next = [429]
        log = tmp_path / "worker.log"
        start_worker(log, processes=2, loglevel="INFO", CELERY_VISIBILITY_TIMEOUT=4, CACHE_URL=own_redis.url(1))
        api = Api(client, tenant)
        assert api.add("pushed once").status_code == 201
        assert wait_for(lambda: Checklist.objects.get().property_synced_version == 1, 120)
        queue = checklist_progress_sync_task.app.conf.task_default_queue
        assert wait_for(
            lambda: _broker_idle(own_redis.url(), queue) and "succeeded" in _runs(log, checklist_progress_sync_task),
            120,
        )
        assert _runs(log, checklist_progress_sync_task) == ["retry", "succeeded"]
        puts = [c for c in standin.recorded if c.method == "PUT" and c.path.endswith(PROGRESS)]
        assert len(puts) == 2  # the 429, then the retry's push


@pytest.mark.django_db(transaction=True)
def test_checklists_jira_refuses_for_good_wait_behind_the_others_in_the_sweep(client, tenant, standin, settings):
    """A push Jira refuses for good (a deleted issue: 404) left its checklist behind for PROGRESS_SWEEP_MAX_AGE_DAYS,
    and the sweep took the oldest changes first: a batch's worth of those filled every sweep for a week, and a push
    lost elsewhere (a broker outage) was never made up for."""
    settings.PROGRESS_SWEEP_GRACE_SECONDS = 0
    settings.PROGRESS_SWEEP_BATCH = 2
    refused = []
    for issue in ("10001", "10002"):  # the older changes: their issues deleted in Jira
        api = Api(client, tenant, issue={**PANEL_ISSUE, "id": issue, "key": f"DEMO-{issue[-1]}"})
        assert api.add("gone").status_code == 201
        refused.append(Checklist.objects.get(issue_id=issue).id)
    standin.fail_next = [404, 404]
    assert checklist_progress_sweep_task() == 2  # tried once each, refused for good
    assert standin.fail_next == []
    lost = Api(client, tenant, issue={**PANEL_ISSUE, "id": "10003", "key": "DEMO-3"})
    assert lost.add("pushed later").status_code == 201  # its push lost (no broker here): only the sweep makes it up
    assert checklist_progress_sweep_task() == 1  # the refused ones wait: the lost push goes first
    assert standin.property("10003", PROGRESS) is not None
    assert [c.property_synced_version for c in Checklist.objects.filter(id__in=refused)] == [0, 0]
    assert checklist_progress_sweep_task() == 0  # nothing else until the refused ones' wait is over
    settings.PROGRESS_SWEEP_FAILED_RETRY_SECONDS = 0
    assert checklist_progress_sweep_task() == 2  # then they are tried again, oldest refusal first, and Jira takes them
    assert {c.property_synced_version for c in Checklist.objects.filter(id__in=refused)} == {1}
    assert list(Checklist.objects.filter(property_sync_failed_at__isnull=False)) == []  # a push that lands clears it


@pytest.mark.django_db(transaction=True)
def test_a_push_whose_retries_run_out_waits_behind_the_others_in_the_sweep(client, tenant, standin, settings):
    settings.PROGRESS_SWEEP_GRACE_SECONDS = 0
    assert Api(client, tenant).add("one").status_code == 201
    checklist = Checklist.objects.get()
    standin.fail_next = [503] * MAX_ATTEMPTS  # retryable, but this is the task's last try
    result = checklist_progress_sync_task.apply(
        args=[str(checklist.id)], retries=checklist_progress_sync_task.max_retries
    )
    assert result.failed() and standin.fail_next == []
    assert Checklist.objects.get().property_sync_failed_at is not None
    assert checklist_progress_sweep_task() == 0  # its turn comes after PROGRESS_SWEEP_FAILED_RETRY_SECONDS
