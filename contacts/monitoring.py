"""For /metrics (read at scrape time): how the HubSpot push is doing. Counts by sync_state, which is indexed."""

from django.db.models import Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from .models import Contact, SyncState


def hubspot_metric_families():
    states = GaugeMetricFamily(
        "herochecklist_hubspot_contacts",
        "Contacts by HubSpot sync state: pending (the backlog) and failed (given up until retried by staff)",
        labels=["state"],
    )
    for state in (SyncState.PENDING, SyncState.FAILED):
        states.add_metric([state.value], Contact.objects.filter(sync_state=state).count())
    oldest = Contact.objects.filter(sync_state=SyncState.PENDING).aggregate(oldest=Min("updated_at"))["oldest"]
    age = GaugeMetricFamily(
        "herochecklist_hubspot_backlog_oldest_seconds",
        "How long the oldest contact still pending has waited since its last change (0 when none is pending)",
    )
    age.add_metric([], (timezone.now() - oldest).total_seconds() if oldest else 0.0)
    return [states, age]
