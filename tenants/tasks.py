import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


# The hard limit under CELERY_VISIBILITY_TIMEOUT (3600 s) less its margin (core/countdown.py, check E009): at 3600 s a
# run still going was handed to a second worker.
@shared_task(acks_late=True, soft_time_limit=3000, time_limit=3200)
def tenant_purge_expired_task():
    """Idempotent: a site purged once is gone, and a rerun finds nothing more to do."""
    purged = services.tenant_purge_expired()
    logger.info("expired tenants purged", extra={"purged": purged})


@shared_task(acks_late=True, ignore_result=True)
def tenant_purge_leftovers_task(tenant_id: str) -> None:
    """Idempotent: deletes by the purged site's id, which no new site ever gets."""
    services.tenant_purge_leftovers(tenant_id=tenant_id)
