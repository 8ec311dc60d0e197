"""How long the records of staff sign-ins are kept."""

from datetime import datetime, timedelta

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.utils import timezone


def staff_sign_in_records_prune(now: datetime | None = None) -> dict[str, int]:
    """Delete django-axes' records of staff sign-ins older than STAFF_SIGN_IN_RECORD_DAYS: each names a username, an
    address and a browser, and none is of use after its lockout (minutes) or the look back an investigation needs;
    axes itself keeps them forever. The audit log (staff.AuditEntry) is not touched: it is append-only by design.
    0 or less keeps them all. Returns the rows deleted per model."""
    days = settings.STAFF_SIGN_IN_RECORD_DAYS
    if days <= 0:
        return {}
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = {}
    for model in (AccessLog, AccessFailureLog, AccessAttempt):
        deleted[model._meta.label], _ = model.objects.filter(attempt_time__lt=cutoff).delete()
    return deleted
