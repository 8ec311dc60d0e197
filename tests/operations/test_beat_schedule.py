"""Beat's schedule against beat's restarts. A beat started without its schedule file (a new container, a host
rebuilt, the file on a disk that is not kept) counts an interval from its own start: a task every 24 hours ran 24
hours after each start, so a beat restarted more often than that (a deploy a day) never ran the backup, the purge
or the Marketplace poll at all. Celery's own scheduler decides here, reading a clock the test moves (its `nowfun`)."""

from datetime import UTC, datetime, timedelta

import pytest
from celery.beat import ScheduleEntry
from celery.schedules import crontab, schedule
from django.conf import settings

from herochecklist.celery import app


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _period(spec) -> timedelta:
    """How often an entry runs: its interval, or the time between a crontab's runs."""
    if isinstance(spec, crontab):
        return timedelta(days=1) / (len(spec.hour) * len(spec.minute))  # every day of the week, as ours are
    return spec if isinstance(spec, timedelta) else timedelta(seconds=spec)


def _reading(spec, clock: Clock):
    """The same schedule, reading `clock`."""
    if isinstance(spec, crontab):
        return crontab(
            minute=spec._orig_minute,
            hour=spec._orig_hour,
            day_of_week=spec._orig_day_of_week,
            day_of_month=spec._orig_day_of_month,
            month_of_year=spec._orig_month_of_year,
            nowfun=clock,
            app=app,
        )
    return schedule(_period(spec), nowfun=clock, app=app)


HOURLY_OR_LESS_OFTEN = sorted(
    name for name, entry in settings.CELERY_BEAT_SCHEDULE.items() if _period(entry["schedule"]) >= timedelta(hours=1)
)


def test_the_daily_and_hourly_tasks_are_found():
    assert {"backup", "marketplace-poll", "tenant-purge", "personal-data-report"} <= set(HOURLY_OR_LESS_OFTEN)


@pytest.mark.parametrize("name", HOURLY_OR_LESS_OFTEN)
def test_a_task_runs_once_a_period_however_often_beat_restarts(name):
    spec = settings.CELERY_BEAT_SCHEDULE[name]["schedule"]
    period = _period(spec)
    clock = Clock(datetime(2026, 1, 5, 0, 0, tzinfo=UTC))
    end = clock.now + 4 * period
    runs = []
    while clock.now < end:
        # Beat starts without its schedule file: the entry's last run is its start, as Celery sets it.
        entry = ScheduleEntry(name=name, task=name, schedule=_reading(spec, clock), app=app)
        started = clock.now
        while clock.now < started + period / 2:  # and is restarted twice a period
            if entry.is_due()[0]:
                runs.append(clock.now)
                entry = entry._next_instance()
            clock.now += period / 240
    assert len(runs) >= 3, runs  # four periods: at least the last three ran
