import logging

from celery import shared_task

from core.metrics import heartbeat_record

logger = logging.getLogger(__name__)


# The hard limit under CELERY_VISIBILITY_TIMEOUT (3600 s) less its margin (core/countdown.py, check E009): at 3600 s a
# run still going was handed to a second worker.
@shared_task(acks_late=True, soft_time_limit=3000, time_limit=3200)
def backup_task():
    """Daily backup then pruning. Re-running on the same day only adds one more archive (all kept for 8 days)."""
    from .backup import backup_create, backups_prune

    result = backup_create()
    pruned = backups_prune()
    logger.info("backup written", extra={"archive": result.name, "bytes": result.size, "pruned": len(pruned)})


@shared_task(acks_late=True)
def personal_data_report_task():
    from .privacy import personal_data_report

    outcome = personal_data_report()
    logger.info("personal data report", extra=outcome)


@shared_task(acks_late=True)
def staff_sign_in_records_prune_task():
    from .signins import staff_sign_in_records_prune

    logger.info("staff sign-in records pruned", extra={"deleted": staff_sign_in_records_prune()})


@shared_task(ignore_result=True, expires=120)
def heartbeat_task():
    """Sent by beat every minute (which stamps beat's heartbeat as it publishes); run here, it stamps the worker's.
    Monitoring alerts when either stamp grows old (see core/metrics.py and ops/prometheus/alerts.yml)."""
    heartbeat_record("worker")
