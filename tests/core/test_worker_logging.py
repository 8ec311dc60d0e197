"""What a real Celery worker logs: the same scrubbed JSON lines as the web process, each task with its own context."""

import json

from checklists.tasks import checklist_progress_sync_task
from tests.conftest import Api, contract_part, wait_for

EMAIL = "billing.person@acme-corp.example"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJjbGllbnQta2V5In0.c2lnbmF0dXJlLWJ5dGVz"


def json_lines(text: str) -> list[dict]:
    found = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the worker's start banner
        if isinstance(entry, dict):
            found.append(entry)
    return found


def test_a_workers_lines_are_scrubbed_json_and_carry_no_earlier_tasks_site(
    client, tenant, standin, start_worker, tmp_path
):
    log = tmp_path / "worker.log"
    Api(client, tenant).add("one")
    start_worker(log=log)
    # The push ran in the worker process, naming its site (clientKey) and issue in the context of its lines.
    assert wait_for(lambda: contract_part(standin.property("10001", "herochecklist-progress")))
    # A task whose exception quotes its argument: Celery logs the failure, message and traceback.
    checklist_progress_sync_task.apply_async(args=[f"{EMAIL} {JWT}"])

    def failure_line():
        return next((e for e in json_lines(log.read_text()) if "raised unexpected" in e["message"]), None)

    line = wait_for(failure_line, 60)
    written = log.read_text()
    assert line, written[-3000:]
    assert EMAIL not in written and JWT not in written
    assert "[email]" in line["message"] and "[jwt]" in line["message"]
    # That task had nothing to do with the site the push before it wrote to.
    assert "client_key" not in line and "issue_key" not in line, line


def test_no_task_keeps_its_outcome_in_redis():
    """A failed task's stored result is its exception and traceback, unscrubbed, in the broker's Redis for a day."""
    from herochecklist.celery import app

    app.loader.import_default_modules()  # every app's tasks, as a worker starting imports them
    ours = [task for name, task in app.tasks.items() if not name.startswith("celery.")]
    assert ours
    assert [task.name for task in ours if not task.ignore_result] == []
