import os
import signal
import threading
import time

import pytest
import redis
from django.conf import settings as settings_module
from django.db import connection

from checklists import tasks
from checklists.models import Checklist
from checklists.tasks import (
    checklist_progress_sweep_task,
    checklist_progress_sync_task,
    forget_queued_pushes,
    schedule_progress_sync,
)
from core import counters
from herochecklist.celery import app
from tests.conftest import Api, use_cache

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_issue_property_follows_a_sequence_of_edits(client, tenant, standin, settings):
    # Without a broker (as here) writes queue nothing and never call Jira themselves; the sweep, which a worker runs
    # on beat, brings the property up to date (tests/test_celery_worker.py has the queued path through a worker).
    settings.PROGRESS_SWEEP_GRACE_SECONDS = 0
    api = Api(client, tenant)
    api.add("Release", isHeader=True)
    ids = [api.add(t).json()["id"] for t in ("tag", "build", "announce")]
    api.add("optional", mandatory=False)
    api.patch(ids[0], status="done")
    api.patch(ids[1], status="skipped")
    api.delete(ids[2])
    assert checklist_progress_sweep_task() == 1
    value = standin.property("10001", "herochecklist-progress")
    contract = {"done": 2, "total": 3, "percent": 67, "mandatoryOpen": 0, "complete": "true"}
    # The workflow rules' counts beside the contract's (tests/checklists/test_workflow_rules.py has their meaning).
    section = value["sections"].popitem()[0]
    assert value == {**contract, "version": 8, "pending": "false", "blocked": 0, "sections": {}}
    # Counts only: nothing personal or textual ever reaches Jira (a header is a keyed hash).
    assert len(section) == 16 and "release" not in section.lower()
    calls = [c for c in standin.recorded if c.method == "PUT"]
    assert calls and all(c.authorization_ok for c in calls)
    assert all(set(c.body) == {*contract, "version", "pending", "blocked", "sections"} for c in calls)
    assert Checklist.objects.get().property_synced_version == Checklist.objects.get().version


def test_a_failed_property_write_never_fails_the_users_edit(client, tenant, standin, settings):
    settings.PROGRESS_SWEEP_GRACE_SECONDS = 0
    standin.fail_next = [400]  # Jira refuses the property (not retryable)
    api = Api(client, tenant)
    assert api.add("still saved").status_code == 201
    assert checklist_progress_sweep_task() == 1
    assert len([c for c in standin.recorded if c.method == "PUT"]) == 1
    assert api.get().json()["items"][0]["text"] == "still saved"
    # The write was really attempted, signed, and refused: the edit survived a failure, not a skipped call.
    writes = [c for c in standin.recorded if c.path == "/rest/api/3/issue/10001/properties/herochecklist-progress"]
    assert [(c.method, c.authorization_ok) for c in writes] == [("PUT", True)], standin.recorded
    assert writes[0].body["mandatoryOpen"] == 1 and writes[0].body["complete"] == "false"
    assert standin.fail_next == []  # the injected 400 was the answer to that write
    assert standin.property("10001", "herochecklist-progress") is None


def test_without_a_broker_a_write_queues_nothing_and_leaves_no_pending_marker(client, tenant, settings, test_redis_url):
    # The marker is raised before Celery is asked whether there is a broker (most edits find it up and ask nothing
    # more); without one it goes again at once, so no edit after a broker comes back finds a push pending that none is.
    use_cache(settings, test_redis_url)
    assert Api(client, tenant).add("saved").status_code == 201
    checklist_id = Checklist.objects.get().id
    assert schedule_progress_sync(checklist_id) is False
    assert counters.flag_add(f"progress-sync-pending:{checklist_id}", ttl_seconds=30) is True  # it was down


# --- A burst of edits in one process: the push's due time remembered ---------------------------------------------


def _queued(broker_url: str) -> int:
    """Pushes waiting on this test's queue (start_worker's broker, no worker started: nothing takes them)."""
    return redis.Redis.from_url(broker_url).llen(app.conf.task_default_queue)


def _marker_value(checklist_id) -> bytes | None:
    return redis.Redis.from_url(settings_module.CACHE_URL).get(f"herochecklist:progress-sync-pending:{checklist_id}")


@pytest.fixture
def burst(client, tenant, settings, test_redis_url, start_worker, broker_url):
    """The production shape of a write's after-commit work: the shared cache and a broker (no worker: a push due in
    30 s stays queued, and countable, for the whole test)."""
    use_cache(settings, test_redis_url)
    settings.PROGRESS_SYNC_DELAY_SECONDS = 30
    api = Api(client, tenant)
    return api, (lambda: _queued(broker_url))


def test_a_bursts_later_edits_ask_redis_nothing_until_its_push_is_nearly_due(burst, monkeypatch):
    api, queued = burst
    item = api.add("one").json()["id"]
    checklist_id = Checklist.objects.get().id
    assert queued() == 1
    due = float(_marker_value(checklist_id))  # the marker holds its push's due time
    assert due == pytest.approx(time.time() + 30, abs=5)
    counters.flag_clear(f"progress-sync-pending:{checklist_id}")  # behind the process's back
    assert api.patch(item, status="done").status_code == 200
    # Not asked: the marker stays down and no second push is queued. The push due in 30 s reads this edit.
    assert (queued(), _marker_value(checklist_id)) == (1, None)
    # A step of this host's wall clock (NTP) changes nothing: the due time was turned into a monotonic deadline.
    monkeypatch.setattr(tasks, "time", _Clock(offset=3600, wall_only=True))
    assert api.patch(item, status="todo").status_code == 200
    assert (queued(), _marker_value(checklist_id)) == (1, None)
    # Shortly before the push is due this process relies on it no more: the next edit raises the marker again.
    monkeypatch.setattr(tasks, "time", _Clock(offset=30 - tasks.DUE_MARGIN_SECONDS + 0.05))
    assert api.patch(item, status="done").status_code == 200
    assert queued() == 2 and _marker_value(checklist_id) is not None


def test_an_edit_learns_another_processs_due_time_from_its_marker(burst):
    api, queued = burst
    item = api.add("one").json()["id"]
    checklist_id = Checklist.objects.get().id
    forget_queued_pushes()  # as another process would be: it knows nothing of the push this one queued
    assert api.patch(item, status="done").status_code == 200  # finds the marker up, reads its due time
    counters.flag_clear(f"progress-sync-pending:{checklist_id}")
    assert api.patch(item, status="todo").status_code == 200
    assert (queued(), _marker_value(checklist_id)) == (1, None)


def test_a_marker_without_a_due_time_is_not_relied_on(burst):
    # A retry's marker (checklist_progress_sync_task while its retry waits) holds no due time.
    api, queued = burst
    item = api.add("one").json()["id"]
    checklist_id = Checklist.objects.get().id
    forget_queued_pushes()
    counters.flag_set(f"progress-sync-pending:{checklist_id}", ttl_seconds=60)
    assert api.patch(item, status="done").status_code == 200
    counters.flag_clear(f"progress-sync-pending:{checklist_id}")
    assert api.patch(item, status="todo").status_code == 200
    assert queued() == 2


def test_a_due_time_further_off_than_this_processs_own_delay_is_relied_on_no_longer_than_that(burst, monkeypatch):
    # Another host's clock runs an hour ahead (NTP failed there): its marker's due time is an hour off. This process
    # relied on it for the hour, skipping every edit's round trip, though that marker went long before (its push ran
    # or was lost, its TTL ended) and nothing was queued to read those edits but the sweep.
    api, queued = burst
    item = api.add("one").json()["id"]
    key = f"progress-sync-pending:{Checklist.objects.get().id}"
    forget_queued_pushes()
    counters.flag_clear(key)
    counters.flag_add_or_read(key, ttl_seconds=300, value=b"%.3f" % (time.time() + 3600))  # as the other host did
    assert api.patch(item, status="done").status_code == 200  # finds the marker up, reads its due time
    counters.flag_clear(key)  # gone: its push ran, or was lost and the marker ended
    monkeypatch.setattr(tasks, "time", _Clock(offset=30))  # this process's own delay later
    assert api.patch(item, status="todo").status_code == 200
    assert queued() == 2  # the marker asked again, found down, and a push queued


def test_a_push_run_here_makes_this_process_forget_its_due_time(burst, standin):
    api, queued = burst
    item = api.add("one").json()["id"]
    checklist_id = Checklist.objects.get().id
    checklist_progress_sync_task(str(checklist_id))  # run before it is due (as the sweep or a test may): it pushed
    assert api.patch(item, status="done").status_code == 200
    assert queued() == 2


class _Clock:
    def __init__(self, offset: float, *, wall_only: bool = False):
        self.offset, self.wall_only = offset, wall_only

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + (0 if self.wall_only else self.offset)


class TestAPushBeingQueued:
    @pytest.fixture
    def broker_url(self, own_redis):
        return own_redis.url()  # a broker of the test's own, to hang while the cache Redis answers

    def test_its_marker_holds_no_due_time_until_the_push_is_queued(
        self, client, tenant, settings, test_redis_url, own_redis, start_worker
    ):
        # Should the queueing fail (broker down), the marker is cleared: an edit of another process that had relied
        # on a due time read from it meanwhile would skip its round trip with no push coming.
        use_cache(settings, test_redis_url)
        settings.PROGRESS_SYNC_DELAY_SECONDS = 30
        api = Api(client, tenant)
        item = api.add("one").json()["id"]
        checklist_id = Checklist.objects.get().id
        assert float(_marker_value(checklist_id)) > time.time()  # queued: the marker holds its due time
        counters.flag_clear(f"progress-sync-pending:{checklist_id}")
        forget_queued_pushes()
        seen = []

        def write() -> None:
            try:
                api.patch(item, status="done")
            finally:
                connection.close()

        os.kill(own_redis.proc.pid, signal.SIGSTOP)  # the broker hangs: the push's queueing waits on it
        writer = threading.Thread(target=write, daemon=True)
        try:
            writer.start()
            deadline = time.monotonic() + 60
            while (value := _marker_value(checklist_id)) is None and time.monotonic() < deadline:
                time.sleep(0.005)
            seen.append(value)
        finally:
            os.kill(own_redis.proc.pid, signal.SIGCONT)
            writer.join(60)
        assert seen == [tasks._QUEUEING]


def test_a_marker_whose_push_is_still_being_queued_is_not_relied_on(burst):
    # Another process raised the marker and is queueing its push: should that fail (broker down), it clears the
    # marker, and an edit that had relied on it would have skipped its round trip with no push coming.
    api, queued = burst
    item = api.add("one").json()["id"]
    checklist_id = Checklist.objects.get().id
    key = f"progress-sync-pending:{checklist_id}"
    forget_queued_pushes()
    counters.flag_clear(key)
    assert counters.flag_add_or_read(key, ttl_seconds=60, value=tasks._QUEUEING)[0] is True  # the other process
    assert api.patch(item, status="done").status_code == 200  # finds it up: no push of its own ...
    assert queued() == 1
    counters.flag_clear(key)  # ... the other process's queueing failed
    assert api.patch(item, status="todo").status_code == 200
    assert queued() == 2  # this edit asked again and queued the push
