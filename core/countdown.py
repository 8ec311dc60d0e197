"""Every task's countdown, kept inside the broker's visibility timeout.

With the Redis broker a countdown (or eta) task is handed to a worker at once and held there, unacknowledged, until
it is due and has run (acks_late). A message unacknowledged for longer than CELERY_VISIBILITY_TIMEOUT is put back in
the queue for another worker while the first still holds it: both run it. A retry after a long Retry-After (HubSpot
asks what it likes, Jira up to an hour), the Marketplace poll's backoff or a long purge follow-up did exactly that.

One rule, for every task of the app (it is the app's task class): a countdown longer than max_countdown() is sent for
max_countdown() only, with its real due time in a header; the task delivered before then queues itself again for the
rest, and runs only once it is due. The wait is kept whole, in steps each held well inside the timeout."""

import math
import time
from datetime import UTC, datetime

from celery import Task
from django.conf import settings

DUE_HEADER = "herochecklist_due"  # the wall-clock time (epoch seconds) before which the task must not run
MIN_STEP_SECONDS = 1.0  # a step never shorter, even where a test shortens the visibility timeout to seconds


def max_countdown(time_limit: float | None = None) -> float:
    """The longest countdown a task may be sent with: its message is held for the countdown, then while the task runs
    (at most its hard time limit), plus a margin for the wait between being due and getting a pool process."""
    visibility = settings.CELERY_VISIBILITY_TIMEOUT
    run = time_limit or settings.CELERY_TASK_TIME_LIMIT or 0
    margin = countdown_margin(visibility)
    return max(MIN_STEP_SECONDS, visibility - run - margin)


def countdown_margin(visibility: float) -> float:
    return min(300.0, visibility / 10)


def bounded_options(options: dict, *, time_limit: float | None = None, now: float | None = None) -> dict:
    """apply_async's options with the countdown or eta bounded by max_countdown(); a longer wait is carried in
    DUE_HEADER (any such header of an earlier send, a retry's, is dropped: the new countdown is the task's wait)."""
    now = time.time() if now is None else now
    headers = dict(options.get("headers") or {})
    headers.pop(DUE_HEADER, None)
    due = None
    countdown, eta = options.get("countdown"), options.get("eta")
    if countdown is not None:
        due = now + float(countdown)
    elif isinstance(eta, datetime):
        due = (eta if eta.tzinfo else eta.replace(tzinfo=UTC)).timestamp()
    options = {**options, "headers": headers or None}
    if due is not None and math.isfinite(due):
        step = max_countdown(time_limit)
        if due - now > step:
            options.pop("eta", None)
            options["countdown"] = step
            headers[DUE_HEADER] = due
            options["headers"] = headers
    return options


def due_time(request) -> float | None:
    """The due time a bounded send carried, when this delivery has one."""
    value = getattr(request, DUE_HEADER, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(DUE_HEADER)
    try:
        due = float(value)
    except (TypeError, ValueError):
        return None
    return due if math.isfinite(due) else None


class BoundedCountdownTask(Task):
    """The app's task class (herochecklist/celery.py): bounded sends, and a delivery before its due time queued again
    for the rest (same id, args and retry count) instead of run."""

    def apply_async(self, args=None, kwargs=None, task_id=None, producer=None, link=None, link_error=None, **options):
        if not self.app.conf.task_always_eager:
            options = bounded_options(options, time_limit=self.time_limit)
        return super().apply_async(args, kwargs, task_id, producer, link, link_error, **options)

    def __call__(self, *args, **kwargs):
        request = self.request
        if not request.is_eager:
            due = due_time(request)
            if due is not None and due > time.time():
                # Not due yet: queued again for the rest (bounded again) before this delivery is acknowledged.
                eta = datetime.fromtimestamp(due, UTC)
                self.signature_from_request(request, args, kwargs, eta=eta, countdown=None).apply_async()
                return None
        return super().__call__(*args, **kwargs)
