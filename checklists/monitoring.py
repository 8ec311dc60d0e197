"""For /metrics (read at scrape time): how far the Jira progress property lags behind the checklists.

Bounded: only checklists changed in the last PROGRESS_LAG_WINDOW_DAYS (the updated_at range the progress sweep reads
too), counted up to PROGRESS_LAG_COUNT_CAP. Guarded: the synced-version field is looked up by name and, while a
deployment's model does not have it, this reports nothing (an absent series, not an error)."""

from datetime import timedelta

from django.core.exceptions import FieldDoesNotExist
from django.db.models import F
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from .models import Checklist

SYNCED_VERSION_FIELD = "property_synced_version"
PROGRESS_LAG_WINDOW_DAYS = 7
PROGRESS_LAG_COUNT_CAP = 10_000


def _has_synced_version() -> bool:
    try:
        Checklist._meta.get_field(SYNCED_VERSION_FIELD)
    except FieldDoesNotExist:
        return False
    return True


def progress_lag_metric_families():
    if not _has_synced_version():
        return []
    behind = Checklist.objects.filter(
        updated_at__gte=timezone.now() - timedelta(days=PROGRESS_LAG_WINDOW_DAYS),
        **{f"{SYNCED_VERSION_FIELD}__lt": F("version")},
    )
    count = len(behind.values_list("id", flat=True)[:PROGRESS_LAG_COUNT_CAP])
    oldest = behind.order_by("updated_at").values_list("updated_at", flat=True).first()
    lagging = GaugeMetricFamily(
        "herochecklist_progress_sync_behind",
        f"Checklists whose Jira progress property is older than their version (changed in the last "
        f"{PROGRESS_LAG_WINDOW_DAYS} days, counted up to {PROGRESS_LAG_COUNT_CAP})",
    )
    lagging.add_metric([], count)
    age = GaugeMetricFamily(
        "herochecklist_progress_sync_oldest_behind_seconds",
        "Since when the longest-lagging progress property has waited (0 when none lags)",
    )
    age.add_metric([], (timezone.now() - oldest).total_seconds() if oldest else 0.0)
    return [lagging, age]
