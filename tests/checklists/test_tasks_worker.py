"""The progress property written by a real Celery worker, through a real Redis, to the Jira stand-in."""

from tests.conftest import Api, contract_part, wait_for


def test_a_real_worker_writes_the_progress_property(client, tenant, standin, start_worker):
    api = Api(client, tenant)
    ids = [api.add(t).json()["id"] for t in ("one", "two", "three")]
    api.patch(ids[0], status="done")
    # The burst waits in Redis until a worker starts, so the write sees all four edits however slow the machine is
    # (with a worker already running, a burst slower than the debounce delay would be written half-done).
    worker = start_worker()
    expected = {"done": 1, "total": 3, "percent": 33, "mandatoryOpen": 2, "complete": "false"}
    got = wait_for(lambda: contract_part(standin.property("10001", "herochecklist-progress")) == expected)
    assert got, (standin.property("10001", "herochecklist-progress"), worker.poll())
    # A burst of four edits became one write (debounced per checklist).
    assert len([c for c in standin.recorded if c.method == "PUT"]) == 1


def test_the_worker_retries_until_jira_recovers(client, tenant, standin, celery_worker_process):
    # Jira fails 6 times in a row: more than the client's own retries, so the task itself must retry.
    standin.fail_next = [503] * 6
    api = Api(client, tenant)
    api.add("survives an outage")
    expected = {"done": 0, "total": 1, "percent": 0, "mandatoryOpen": 1, "complete": "false"}
    assert wait_for(lambda: contract_part(standin.property("10001", "herochecklist-progress")) == expected, 180)
    assert len([c for c in standin.recorded if c.method == "PUT"]) >= 7
