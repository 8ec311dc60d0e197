"""What /metrics reads at scrape time for the alert rules: Celery queue length (the real Redis), worker and beat
heartbeats, backup age, the HubSpot backlog, progress-property lag; each source failing soft."""

import time
import uuid
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from checklists import monitoring
from checklists.models import Checklist
from contacts.models import Contact, SyncState
from core import metrics
from herochecklist.celery import app
from operations.backup import backup_create
from operations.tasks import heartbeat_task
from tests.conftest import TOKEN, scrape, value

pytestmark = pytest.mark.django_db

UP = "herochecklist_collector_up"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


@pytest.fixture
def own_queue(settings, test_redis_url):
    """The broker pointed at the test Redis (our DB number) with a queue name of this test's own."""
    name = f"test-queue-{uuid.uuid4().hex}"
    settings.CELERY_BROKER_URL = test_redis_url
    settings.CELERY_TASK_DEFAULT_QUEUE = name
    client = redis.Redis.from_url(test_redis_url)
    yield client, name
    client.delete(name)
    client.close()


def test_queue_length_is_read_from_the_broker(client, own_queue):
    redis_client, name = own_queue
    redis_client.lpush(name, "task-1", "task-2", "task-3")
    samples = scrape(client)
    assert value(samples, "herochecklist_celery_queue_length", queue=name) == 3
    assert value(samples, UP, collector="queue") == 1


def test_an_unreachable_broker_costs_only_its_own_numbers_and_little_time(client, settings, closed_port):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port}/0"
    started = time.monotonic()
    samples = scrape(client)
    assert time.monotonic() - started < 5  # short timeouts: the scrape is not held up
    assert value(samples, UP, collector="queue") == 0
    assert not [key for key in samples if key[0] == "herochecklist_celery_queue_length"]
    assert value(samples, UP, collector="heartbeat") == 1  # the other sources are still served


def test_without_a_redis_broker_there_is_no_queue_series(client, settings):
    settings.CELERY_BROKER_URL = "memory://"
    samples = scrape(client)
    assert not [key for key in samples if key[0] == "herochecklist_celery_queue_length"]
    assert value(samples, UP, collector="queue") == 1


def test_a_failing_source_reports_down_and_the_rest_of_metrics_is_served(client, monkeypatch):
    def broken():
        raise RuntimeError("database gone")

    monkeypatch.setitem(metrics._scrape_sources, "test-broken", broken)
    samples = scrape(client)
    assert value(samples, UP, collector="test-broken") == 0
    assert value(samples, UP, collector="heartbeat") == 1
    assert value(samples, "herochecklist_apdex_threshold_seconds") > 0


def test_the_worker_stamps_its_heartbeat_and_beat_stamps_its_own_when_it_sends_the_task(client):
    from django.core.cache import cache

    cache.delete_many([metrics.HEARTBEAT_KEY.format(role) for role in ("worker", "beat")])
    name = "herochecklist_celery_heartbeat_timestamp_seconds"
    samples = scrape(client)
    assert not [key for key in samples if key[0] == name]  # never seen: no series (the alert's absent() fires)

    heartbeat_task.apply()  # as a worker runs it
    samples = scrape(client)
    assert abs(value(samples, name, role="worker") - time.time()) < 60
    assert not [key for key in samples if key[0] == name and dict(key[1]) == {"role": "beat"}]

    with app.connection_for_write("memory://") as connection:  # as beat publishes it (to a broker of its own)
        app.send_task(metrics.HEARTBEAT_TASK, connection=connection, queue=f"test-{uuid.uuid4().hex}")
    samples = scrape(client)
    assert abs(value(samples, name, role="beat") - time.time()) < 60


def test_the_heartbeat_is_on_beats_schedule(settings):
    entries = [entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == metrics.HEARTBEAT_TASK]
    assert len(entries) == 1
    assert entries[0]["schedule"] <= 60


def test_backup_age_is_the_newest_archive_in_the_store(client, backup_dir):
    name = "herochecklist_backup_last_success_timestamp_seconds"
    backup_dir.rmdir()  # before the first backup the folder may not even exist
    assert not [key for key in scrape(client) if key[0] == name]  # none yet: the alert's absent() fires
    older = timezone.now() - timedelta(days=3)
    backup_create(now=older)
    assert value(scrape(client), name) == pytest.approx(older.replace(microsecond=0).timestamp())
    newest = timezone.now() - timedelta(hours=1)
    backup_create(now=newest)
    samples = scrape(client)
    assert value(samples, name) == pytest.approx(newest.replace(microsecond=0).timestamp())
    assert value(samples, UP, collector="backup") == 1


def test_an_archive_dated_in_the_future_does_not_hide_that_backups_stopped(client, backup_dir):
    """One run with a clock a year ahead dated its archive a year on: as the newest stamp it said "backed up" for a
    year, whatever happened after, and HerochecklistBackupTooOld could not fire when backups stopped."""
    name = "herochecklist_backup_last_success_timestamp_seconds"
    last_good = timezone.now() - timedelta(days=2)  # backups stopped two days ago
    backup_create(now=last_good)
    backup_create(now=timezone.now() + timedelta(days=365))
    assert value(scrape(client), name) == pytest.approx(last_good.replace(microsecond=0).timestamp())


def test_hubspot_backlog_and_failures_are_counted(client):
    for index, state in enumerate([SyncState.PENDING, SyncState.PENDING, SyncState.FAILED, SyncState.SYNCED]):
        Contact.objects.create(email=f"person{index}@example.com", sync_state=state)
    Contact.objects.filter(email="person0@example.com").update(updated_at=timezone.now() - timedelta(hours=2))
    samples = scrape(client)
    assert value(samples, "herochecklist_hubspot_contacts", state="pending") == 2
    assert value(samples, "herochecklist_hubspot_contacts", state="failed") == 1
    assert 7000 < value(samples, "herochecklist_hubspot_backlog_oldest_seconds") < 7400


def test_progress_lag_counts_checklists_whose_property_is_behind(client, other_tenant):
    names = ("herochecklist_progress_sync_behind", "herochecklist_progress_sync_oldest_behind_seconds")
    assert [value(scrape(client), name) for name in names] == [0, 0]
    Checklist.objects.create(tenant=other_tenant, issue_id="1", version=3, property_synced_version=3)
    behind = Checklist.objects.create(tenant=other_tenant, issue_id="2", version=3, property_synced_version=1)
    Checklist.objects.filter(pk=behind.pk).update(updated_at=timezone.now() - timedelta(minutes=30))
    # Changed longer ago than the window: left to the sweep's own cut-off, and not counted.
    old = Checklist.objects.create(tenant=other_tenant, issue_id="3", version=2, property_synced_version=0)
    Checklist.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=30))
    samples = scrape(client)
    assert value(samples, names[0]) == 1
    assert 1750 < value(samples, names[1]) < 1900


def test_progress_lag_reports_nothing_while_the_synced_version_field_is_absent(client, monkeypatch):
    monkeypatch.setattr(monitoring, "SYNCED_VERSION_FIELD", "no_such_field")
    samples = scrape(client)
    assert not [key for key in samples if key[0].startswith("herochecklist_progress_sync")]
    assert value(samples, UP, collector="progress_sync") == 1  # absent, not an error


def test_with_several_processes_the_scrape_time_sources_are_read_once(client, monkeypatch, tmp_path):
    # PROMETHEUS_MULTIPROC_DIR: /metrics adds up every process's files, and reads the scrape-time sources itself.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    samples = scrape(client)
    assert value(samples, UP, collector="heartbeat") == 1
    assert value(samples, UP, collector="progress_sync") == 1
