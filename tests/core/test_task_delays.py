"""core/tasks.py: no task is queued to run later than half the broker's visibility timeout (the real redelivery it
prevents: tests/checklists/test_write_faults.py, TestARetryDueAfterTheVisibilityTimeout)."""

import datetime

import pytest

from core.tasks import bounded_delay
from herochecklist.celery import app


@pytest.fixture
def visibility(settings):
    settings.CELERY_VISIBILITY_TIMEOUT = 600
    return 600


def test_a_countdown_beyond_half_the_visibility_timeout_is_cut_to_it(visibility):
    assert bounded_delay({"countdown": 86400, "priority": 3}) == {"countdown": 300, "priority": 3}


def test_an_eta_beyond_half_the_visibility_timeout_is_cut_to_it(visibility):
    now = datetime.datetime.now(datetime.UTC)
    eta = bounded_delay({"eta": now + datetime.timedelta(days=1)})["eta"]
    assert eta.tzinfo is not None
    assert datetime.timedelta(seconds=299) <= eta - now <= datetime.timedelta(seconds=301)


def test_a_delay_within_it_is_left_alone(visibility):
    eta = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=60)
    assert bounded_delay({"countdown": 299.5, "eta": eta}) == {"countdown": 299.5, "eta": eta}


def test_every_task_of_the_project_is_bounded():
    app.loader.import_default_modules()
    ours = [task for name, task in app.tasks.items() if not name.startswith("celery.")]
    assert ours
    assert all(task.apply_async.__func__.__qualname__ == "BoundedDelayTask.apply_async" for task in ours), [
        name for name, task in app.tasks.items() if not name.startswith("celery.")
    ]
