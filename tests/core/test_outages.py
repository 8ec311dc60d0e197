"""Outages degrade the service, never break it: each fault is injected for real (a Redis process stopped, a database
that is full, read-only or unreachable) and the API still answers JSON with its real status, /readyz names what is
down, and no progress sync is lost for good."""

import json

import jwt
import pytest
import redis
from django.core.cache import cache
from django.db import connection

from checklists import serializers
from checklists.models import Checklist
from checklists.tasks import checklist_progress_sweep_task, forget_queued_pushes
from core.metrics import REGISTRY
from herochecklist.celery import app
from tests.conftest import Api, contract_part, use_cache, wait_for
from tests.core.test_db import other_writer  # noqa: F401 (a fixture: a process holding SQLite's writers' turn)

PROGRESS = "herochecklist-progress"
sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="SQLite's own limits (max_page_count, query_only) make it full or read-only; on MongoDB the equivalent "
    "fault is the unreachable server (test_the_api_answers_503_json_when_the_database_is_unreachable)",
)


def metric(name: str) -> float:
    """A counter's total over all its labels."""
    return sum(s.value for family in REGISTRY.collect() for s in family.samples if s.name == name)


# --- the cache Redis -------------------------------------------------------------------------------------------------


def test_the_api_keeps_answering_with_the_cache_redis_down_and_readyz_names_it(client, tenant, settings, own_redis):
    use_cache(settings, own_redis.url())
    api = Api(client, tenant)
    assert api.add("before").status_code == 201
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.content
    assert ready.json()["checks"] == {"database": "ok", "cache": "ok"}

    own_redis.stop()
    before = metric("herochecklist_rate_limit_fail_open_total")
    read = api.get()
    assert read.status_code == 200, read.content
    assert [i["text"] for i in read.json()["items"]] == ["before"]
    assert api.add("during").status_code == 201
    # The rate limit could not be counted: let through, and counted for /metrics.
    assert metric("herochecklist_rate_limit_fail_open_total") == before + 2

    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "errors": {"cache": "unreachable"}}


def test_a_hung_cache_redis_costs_one_timeout_not_one_per_call_and_is_used_again_once_back(
    client, tenant, settings, own_redis
):
    """A cache Redis that accepts connections and never answers (found by a fault run): each call to it waited its
    own timeout, so every read took CACHE_TIMEOUT_SECONDS longer and every write three times that, request after
    request. After the first timeout the breaker skips Redis for CACHE_BREAKER_SECONDS: each caller takes its own
    fallback at once, the answers as before; once Redis is back, one probe closes the breaker again."""
    import os
    import signal
    import time

    use_cache(settings, own_redis.url())
    settings.CACHE_TIMEOUT_SECONDS = 1  # as use_cache's for Django's cache
    settings.CACHE_BREAKER_SECONDS = 5
    api = Api(client, tenant)
    item = api.add("before").json()["id"]
    assert api.get().status_code == 200  # every client has its connection open and pooled, the listener subscribed
    rounds = 6
    failures = metric("herochecklist_cache_failures_total")
    fail_open = metric("herochecklist_rate_limit_fail_open_total")

    os.kill(own_redis.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        answers = []
        for n in range(rounds):
            answers.append(api.get())
            answers.append(api.add(f"during {n}"))
            answers.append(api.patch(item, status="done" if n % 2 == 0 else "todo"))
        took = time.monotonic() - started
        open_during = metric("herochecklist_cache_breaker_open")
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)

    # Answers as before: reads from the database, writes saved (their push left to the sweep), the limit not counted.
    assert [a.status_code for a in answers] == [200, 201, 200] * rounds, [a.content for a in answers]
    assert [i["text"] for i in answers[-3].json()["items"]] == ["before"] + [f"during {n}" for n in range(rounds - 1)]
    assert metric("herochecklist_rate_limit_fail_open_total") == fail_open + 3 * rounds
    checklist = Checklist.objects.get()
    assert (checklist.version, checklist.property_synced_version) == (1 + 2 * rounds, 0)
    # One timeout (two, if the invalidation listener's own call was at it meanwhile), not one or three per request:
    # 18 requests waited 1 s each and the writes 3 s before. The bound on the time is a generous multiple of one.
    assert took < 8, took
    assert 1 <= metric("herochecklist_cache_failures_total") - failures <= 2
    assert open_during == 1

    # Back: the first call after the period probes, its answer closes the breaker, and Redis counts again.
    assert wait_for(lambda: api.get().status_code == 200 and metric("herochecklist_cache_breaker_open") == 0, 30)
    counted = metric("herochecklist_rate_limit_fail_open_total")
    assert api.add("after").status_code == 201
    assert api.get().status_code == 200
    assert metric("herochecklist_rate_limit_fail_open_total") == counted
    assert redis.Redis.from_url(own_redis.url()).keys("herochecklist:*")  # the rate limit's window, counted there


def test_the_timing_beacon_answers_204_with_the_cache_redis_down(client, tenant, settings, own_redis):
    # Its rate limit counts in the cache, which fails open (returns None): the beacon must not turn that into a 500.
    use_cache(settings, own_redis.url())
    own_redis.stop()
    response = client.post(
        "/telemetry/client-timings",
        data=json.dumps({"authorization": Api(client, tenant).authorization, "render": 0.5}),
        content_type="text/plain;charset=UTF-8",
    )
    assert response.status_code == 204, response.content


def test_the_api_root_is_a_json_404_even_when_gzipped(client, tenant):
    # ninja raises Http404 for its switched-off docs page: a 404, not a 500; and a replaced (DEBUG) error page must not
    # keep the Content-Encoding of the page it replaced.
    for path in ("/api/v1/", "/api/nope"):
        response = client.get(path, HTTP_ACCEPT_ENCODING="gzip")
        assert response.status_code == 404, (path, response.content)
        assert response.json()["error"] == "not_found"
        assert not response.has_header("Content-Encoding")


# --- the broker ------------------------------------------------------------------------------------------------------


@pytest.fixture
def broker_url(own_redis):
    return own_redis.url()


def test_a_write_with_the_broker_down_answers_201_and_the_sweep_syncs_it(
    client, tenant, standin, settings, own_redis, start_worker
):
    settings.PROGRESS_SWEEP_GRACE_SECONDS = 0
    api = Api(client, tenant)
    own_redis.stop()
    failures = metric("herochecklist_after_commit_failures_total")

    response = api.add("saved while the broker is down")
    assert response.status_code == 201, response.content
    assert response.json()["text"] == "saved while the broker is down"
    assert metric("herochecklist_after_commit_failures_total") == failures + 1
    checklist = Checklist.objects.get()
    assert (checklist.version, checklist.property_synced_version) == (1, 0)

    # The broker is back and a worker runs: the sweep (beat's job, run here directly) queues the lost push.
    own_redis.start()
    worker = start_worker()
    assert checklist_progress_sweep_task() == 1
    expected = {"done": 0, "total": 1, "percent": 0, "mandatoryOpen": 1, "complete": "false"}
    assert wait_for(lambda: contract_part(standin.property("10001", PROGRESS)) == expected, 60), (
        standin.property("10001", PROGRESS),
        worker.poll(),
    )
    assert wait_for(lambda: Checklist.objects.get().property_synced_version == 1, 60)
    # In step now: the next sweep has nothing to do.
    assert checklist_progress_sweep_task() == 0


def _fill(url: str) -> redis.Redis:
    """The Redis at `url` at its maxmemory, as a broker must be set up (noeviction): it answers PING, and refuses
    every write with "OOM command not allowed"."""
    server = redis.Redis.from_url(url)
    server.config_set("maxmemory-policy", "noeviction")
    server.config_set("maxmemory", server.info("memory")["used_memory"] + 100_000)
    with pytest.raises(redis.ResponseError, match="maxmemory"):  # redis-py takes the reply's OOM as its class
        for n in range(1000):
            server.set(f"filler:{n}", b"x" * 10_000)
    return server


def test_a_full_broker_and_cache_redis_degrade_and_readyz_names_them(
    client, tenant, standin, settings, own_redis, start_worker
):
    """A Redis at its maxmemory answered PING, so /readyz said ok while no task could be queued (beat's sweeps and
    heartbeat included): everything in the background stopped, and nothing named why."""
    settings.PROGRESS_SWEEP_GRACE_SECONDS = 0
    settings.REDIS_URL = own_redis.url()
    use_cache(settings, own_redis.url(1))
    api = Api(client, tenant)
    assert client.get("/readyz").status_code == 200
    server = _fill(own_redis.url())
    failures = metric("herochecklist_after_commit_failures_total")

    response = api.add("saved while Redis is full")
    assert response.status_code == 201, response.content
    assert metric("herochecklist_after_commit_failures_total") == failures + 1  # its push could not be queued
    assert api.get().status_code == 200  # the rate limit could not count it: let through
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "errors": {"broker": "refuses writes", "cache": "refuses writes"}}

    server.config_set("maxmemory", 0)  # memory made again: the sweep queues the lost push
    assert client.get("/readyz").status_code == 200
    worker = start_worker()
    assert checklist_progress_sweep_task() == 1
    assert wait_for(lambda: Checklist.objects.get().property_synced_version == 1, 60), worker.poll()
    assert contract_part(standin.property("10001", PROGRESS))["total"] == 1


def test_a_write_with_the_broker_hung_answers_and_the_sweep_syncs_it(client, tenant, standin, own_redis, start_worker):
    """A broker that accepts connections and never answers (a Redis frozen, a network that drops its replies): the
    write committed, then its after-commit queueing waited on the socket with no timeout, and the user's answer with
    it, for as long as the broker stayed hung (every web worker so, one write after another)."""
    import os
    import signal
    import threading

    api = Api(client, tenant)
    item = api.add("one").json()["id"]  # the web process's connection to the broker is open and pooled
    cache.clear()  # that write's push marker: the next write queues a push of its own ...
    forget_queued_pushes()  # ... and this process forgets the first push's due time
    failures = metric("herochecklist_after_commit_failures_total")
    answers = []

    def write() -> None:
        try:
            answers.append(api.patch(item, status="done"))
        finally:
            connection.close()

    os.kill(own_redis.proc.pid, signal.SIGSTOP)
    try:
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(60)  # the test's patience, far beyond the broker's timeouts: not a measure of speed
        answered = not writer.is_alive()
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)
        writer.join(60)
    assert answered, "the write waited on the hung broker"
    assert answers[0].status_code == 200, answers[0].content
    assert metric("herochecklist_after_commit_failures_total") == failures + 1  # the push not queued: logged
    checklist = Checklist.objects.get()
    assert (checklist.version, checklist.property_synced_version) == (2, 0)  # saved once; the sweep catches up


def test_the_progress_sweep_runs_on_beat():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["progress-sweep"]
    assert entry["task"] == checklist_progress_sweep_task.name
    assert entry["task"] in app.tasks
    assert entry["schedule"] == settings.PROGRESS_SWEEP_INTERVAL_SECONDS


def test_a_worker_killed_while_restoring_dead_workers_tasks_holds_them_back_one_visibility_timeout_at_most(own_redis):
    """kombu restores a dead worker's unacknowledged tasks under a lock in the broker; a worker killed while it held
    that lock kept every worker from restoring anything for 300 s, past a short timeout (the killed-worker HubSpot
    test runs with 5 s). Real kombu, real Redis: the killed worker's lock is left held as it would be."""
    import redis
    from kombu import Connection

    from herochecklist.settings import broker_transport_options

    options = broker_transport_options(1)
    client = redis.Redis.from_url(own_redis.url())
    with (
        Connection(own_redis.url(), transport_options=options) as dead,
        Connection(own_redis.url(), transport_options=options) as alive,
    ):
        tasks = dead.SimpleQueue("restore-test")
        tasks.put({"task": "a task its worker never finished"})
        tasks.get(block=False)  # delivered: in the unacked hash until acknowledged, which it never is
        channel = dead.default_channel
        assert client.llen("restore-test") == 0 and client.hlen(channel.unacked_key) == 1
        # Another worker was killed in the middle of restoring: kombu's lock, taken as kombu takes it, never released.
        assert client.lock(channel.unacked_mutex_key, timeout=channel.unacked_mutex_expire).acquire(blocking=False)
        qos = alive.default_channel.qos

        def restored() -> bool:
            qos.restore_visible(num=None, interval=1)  # what a live worker runs every unacked_restore_interval
            return client.llen("restore-test") == 1

        assert wait_for(restored, 60)
        assert client.hlen(channel.unacked_key) == 0


# --- no broker at all (REDIS_URL unset) ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the after-commit work runs only when a transaction really commits
def test_without_a_broker_a_write_never_calls_jira_inside_the_request(client, tenant, standin, settings):
    api = Api(client, tenant)
    assert api.add("one").status_code == 201
    assert api.add("two").status_code == 201
    # Jira saw nothing: before the fix each write pushed the property inline, and with Jira unreachable it waited
    # out every retry of that push (15-20 s per write).
    assert [c for c in standin.recorded if c.method == "PUT"] == []
    checklist = Checklist.objects.get()
    assert (checklist.version, checklist.property_synced_version) == (2, 0)


@pytest.mark.django_db(transaction=True)
def test_the_sweep_catches_up_on_what_jira_refused_and_leaves_fresh_changes_alone(client, tenant, standin, settings):
    api = Api(client, tenant)
    item = api.add("one").json()["id"]
    api.patch(item, status="done")
    # Within the grace period the write's own push is still on its way: the sweep leaves it alone.
    settings.PROGRESS_SWEEP_GRACE_SECONDS = 3600
    assert checklist_progress_sweep_task() == 0

    settings.PROGRESS_SWEEP_GRACE_SECONDS = 0
    settings.PROGRESS_SWEEP_FAILED_RETRY_SECONDS = 0  # a refused push waits this long for its next sweep
    standin.fail_next = [400]  # Jira refuses (not retryable): the task gives up, the property stays behind
    assert checklist_progress_sweep_task() == 1
    assert standin.property("10001", PROGRESS) is None
    assert Checklist.objects.get().property_synced_version == 0

    assert checklist_progress_sweep_task() == 1  # the next sweep tries again, and Jira takes it
    assert contract_part(standin.property("10001", PROGRESS)) == {
        "done": 1,
        "total": 1,
        "percent": 100,
        "mandatoryOpen": 0,
        "complete": "true",
    }
    assert Checklist.objects.get().property_synced_version == 2
    assert checklist_progress_sweep_task() == 0


# --- the database refuses: full, read-only, unreachable -------------------------------------------------------------

BIG_TEXT = "".join(f"- [ ] step {n} {'x' * 1900}\n" for n in range(250))  # ~480 KB: needs new database pages


def _assert_503_json(response):
    assert response.status_code == 503, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "unavailable"
    assert response["Retry-After"]


# A database that refuses writes, as SQLite's own limits make it (statement, its undoing; {pages}: the current size).
refusing_databases = pytest.mark.parametrize(
    ("fault", "undo"),
    [
        # The database at its size limit: what a full disk looks like to SQLite (SQLITE_FULL).
        ("PRAGMA max_page_count = {pages}", "PRAGMA max_page_count = 4294967294"),
        # A read-only database (SQLITE_READONLY); a read-only file is no test as root, who may write anyway.
        ("PRAGMA query_only = 1", "PRAGMA query_only = 0"),
    ],
    ids=["full", "read-only"],
)


@sqlite_only
@pytest.mark.django_db(transaction=True)
@refusing_databases
def test_a_database_that_refuses_writes_gives_503_json_and_a_red_readyz(client, tenant, fault, undo):
    api = Api(client, tenant)
    assert api.add("kept").status_code == 201
    with connection.cursor() as cursor:  # the connection the test client's requests use (same thread)
        # Earlier tests' deleted rows leave free pages in the file, which would take the probe's write: none left.
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA page_count")
        cursor.execute(fault.format(pages=cursor.fetchone()[0]))
    try:
        failures = metric("herochecklist_database_unavailable_total")
        _assert_503_json(api.put_text(BIG_TEXT))
        assert metric("herochecklist_database_unavailable_total") == failures + 1
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable", "errors": {"database": "refuses writes"}}
        # Reads still work, and nothing of the refused write is half there.
        assert [i["text"] for i in api.get().json()["items"]] == ["kept"]
    finally:
        with connection.cursor() as cursor:
            cursor.execute(undo)
    assert client.get("/readyz").status_code == 200
    assert api.put_text(BIG_TEXT).status_code == 200


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_staff_import_with_the_database_locked_is_a_503_to_retry_and_the_retry_imports_each_license_once(
    staff, request
):
    # Outside /api/ an exception of the database's went to Django's 500 page: the staff console's CSV import (a write
    # door), the panel, the webhooks Jira retries. A locked or unreachable database is "try again", as on the API.
    from django.core.files.uploadedfile import SimpleUploadedFile

    from contacts.models import Contact, License

    billing = staff("billing")
    rows = "addonLicenseId,status,technicalContactEmail,technicalContactName\n" + "".join(
        f"L{n},active,user{n}@example.com,User {n}\n" for n in range(3)
    )

    def upload():
        return billing.post("/admin/contacts/contact/import/", {"file": SimpleUploadedFile("l.csv", rows.encode())})

    options = connection.settings_dict.setdefault("OPTIONS", {})
    saved = options.get("timeout")
    other = request.getfixturevalue("other_writer")  # another process holds SQLite's writers' turn
    options["timeout"] = 0.3
    try:
        refused = upload()
    finally:
        options["timeout"] = saved
        other.stdin.close()
        other.wait(30)
    assert refused.status_code == 503, refused.content[:300]
    assert refused["Retry-After"]
    assert b"Traceback" not in refused.content
    assert upload().status_code == 302  # imported, back to the list
    assert License.objects.count() == 3 and Contact.objects.count() == 3


@pytest.mark.per_database
def test_the_api_answers_503_json_when_the_database_is_unreachable(run_django, closed_port):
    # A separate process, so the database really is unreachable there (not just pretended to be).
    if connection.vendor == "mongodb":
        url = f"mongodb://127.0.0.1:{closed_port}/x?directConnection=true&serverSelectionTimeoutMS=300"
    else:
        url = "sqlite:////nonexistent-dir/db.sqlite3"
    # A Connect JWT: verifying it needs the site's secret, which is in the database.
    token = jwt.encode({"iss": "some-client-key", "sub": "557058:alice", "qsh": "context-qsh"}, "x" * 32)
    proc = run_django(
        "import json\nfrom django.test import Client\n"
        f"r = Client().get('/api/v1/issues/10001/checklist', HTTP_AUTHORIZATION='JWT {token}')\n"
        "print('RESULT', json.dumps([r.status_code, r['Content-Type'], r.get('Retry-After'), r.content.decode()]))\n"
        "r = Client().get('/readyz')\n"
        "print('RESULT', json.dumps([r.status_code, r['Content-Type'], None, r.content.decode()]))\n",
        {"DATABASE_URL": url},
    )
    assert proc.returncode == 0, proc.stderr
    api, ready = (json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    assert api[:2] == [503, "application/json"], api
    assert api[2] and json.loads(api[3])["error"] == "unavailable"
    assert ready[0] == 503
    assert json.loads(ready[3]) == {"status": "unavailable", "errors": {"database": "unreachable"}}


# --- every error on the API is JSON ---------------------------------------------------------------------------------


def _assert_json_error(response, status: int, error: str):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == error


def test_an_unknown_api_path_is_a_json_404(api, client):
    _assert_json_error(client.get("/api/v1/nothing-here", HTTP_AUTHORIZATION=api.authorization), 404, "not_found")
    _assert_json_error(client.get("/api/v2/issues/10001/checklist"), 404, "not_found")


def test_a_wrong_method_is_a_json_405_that_names_the_allowed_ones(api, client):
    response = client.post(api.url("/history"), HTTP_AUTHORIZATION=api.authorization)
    _assert_json_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_a_body_over_the_limit_is_a_json_413(api, client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.put_text("- [ ] x\n" * 200)
    _assert_json_error(response, 413, "too_large")


def test_an_unexpected_error_is_a_json_500_that_tells_nothing(api, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("internal detail /srv/secret-path")

    # The one place an unexpected error can be planted: nothing in the real code raises one on purpose.
    monkeypatch.setattr(serializers, "history_json", broken)
    response = api.get("/history")
    _assert_json_error(response, 500, "server_error")
    assert b"secret-path" not in response.content and b"Traceback" not in response.content
