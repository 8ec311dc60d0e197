"""The progress property written by a real Celery worker, through a real Redis, to the Jira stand-in."""

import time

from tests.conftest import Api


def wait_for(predicate, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def test_a_real_worker_writes_the_progress_property(client, tenant, standin, celery_worker_process):
    api = Api(client, tenant)
    ids = [api.add(t).json()["id"] for t in ("one", "two", "three")]
    api.patch(ids[0], status="done")
    expected = {"done": 1, "total": 3, "percent": 33, "mandatoryOpen": 2, "complete": "false"}
    got = wait_for(lambda: standin.property("10001", "herochecklist-progress") == expected)
    assert got, (standin.property("10001", "herochecklist-progress"), celery_worker_process.poll())
    # A burst of four edits became far fewer than four writes (debounced per checklist).
    assert 1 <= len([c for c in standin.recorded if c.method == "PUT"]) < 4


def test_the_worker_retries_until_jira_recovers(client, tenant, standin, celery_worker_process):
    # Jira fails 6 times in a row: more than the client's own retries, so the task itself must retry.
    standin.fail_next = [503] * 6
    api = Api(client, tenant)
    api.add("survives an outage")
    expected = {"done": 0, "total": 1, "percent": 0, "mandatoryOpen": 1, "complete": "false"}
    assert wait_for(lambda: standin.property("10001", "herochecklist-progress") == expected, 45)
    assert len([c for c in standin.recorded if c.method == "PUT"]) >= 7
