"""Staff sign-in records (django-axes') are kept STAFF_SIGN_IN_RECORD_DAYS, then deleted by beat's daily task; the
audit log is never touched."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from celery.schedules import crontab
from django.utils import timezone

from operations.tasks import staff_sign_in_records_prune_task
from staff.models import AuditEntry

pytestmark = pytest.mark.django_db

MODELS = (AccessLog, AccessFailureLog, AccessAttempt)


def _records(age: timedelta, username: str) -> None:
    """One record of each kind, `age` old (attempt_time is auto_now_add: set it after)."""
    for model in MODELS:
        fields = {"username": username, "ip_address": "203.0.113.9", "user_agent": "Firefox"}
        if model is AccessAttempt:
            fields |= {"get_data": "", "post_data": "", "failures_since_start": 1}
        row = model.objects.create(**fields)
        model.objects.filter(pk=row.pk).update(attempt_time=timezone.now() - age)


def test_records_older_than_the_setting_go_and_newer_ones_stay(settings):
    settings.STAFF_SIGN_IN_RECORD_DAYS = 90
    _records(timedelta(days=91), "old")
    _records(timedelta(days=89), "recent")
    # The audit log names addresses too, but is append-only: the prune leaves it whole.
    AuditEntry.objects.create(
        actor_id="1", actor_username="old", action="view", model="tenants.tenant", ip_address="203.0.113.9"
    )
    staff_sign_in_records_prune_task.apply().get()
    for model in MODELS:
        assert list(model.objects.values_list("username", flat=True)) == ["recent"], model
    assert list(AuditEntry.objects.values_list("actor_username", flat=True)) == ["old"]


def test_zero_keeps_every_record(settings):
    settings.STAFF_SIGN_IN_RECORD_DAYS = 0
    _records(timedelta(days=4000), "ancient")
    staff_sign_in_records_prune_task.apply().get()
    assert all(model.objects.filter(username="ancient").exists() for model in MODELS)


def test_beat_runs_the_prune_daily(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["staff-sign-in-records"]
    assert entry["task"] == "operations.tasks.staff_sign_in_records_prune_task"
    assert entry["schedule"] == crontab(hour=4, minute=47)  # daily (a fixed time: test_beat_schedule.py)
