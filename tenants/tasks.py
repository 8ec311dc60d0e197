import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


# The hard limit under CELERY_VISIBILITY_TIMEOUT (3600 s) less its margin (core/countdown.py, check E009): at 3600 s a
# run still going was handed to a second worker.
@shared_task(acks_late=True, soft_time_limit=3000, time_limit=services.TENANT_PURGE_LONGEST_SECONDS)
def tenant_purge_expired_task():
    """Idempotent: a site purged once is gone, and a rerun finds nothing more to do."""
    purged = services.tenant_purge_expired()
    logger.info("expired tenants purged", extra={"purged": purged})


@shared_task(bind=True, acks_late=True, ignore_result=True)
def tenant_purge_leftovers_task(self, tenant_id: str, queued_at: float | None = None) -> None:
    """Idempotent: deletes by the purged site's id, which no new site ever gets. Queued again while not due yet (its
    purge still running, or committed less than the delay ago: services.tenant_purge_leftovers_wait)."""
    wait = services.tenant_purge_leftovers_wait(tenant_id=tenant_id, queued_at=queued_at)
    if wait > 0 and not self.request.is_eager:  # eager (no broker): there is no later, it runs as the purge's last step
        if not self.request.called_directly:
            self.apply_async(args=[tenant_id, queued_at], countdown=wait)
        return
    services.tenant_purge_leftovers(tenant_id=tenant_id)
