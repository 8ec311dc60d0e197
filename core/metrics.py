"""Prometheus metrics: per-route throughput, latency histogram, Apdex zones, 404 and 5xx, Celery task outcomes.

Apdex = (satisfied + tolerating / 2) / all, with satisfied <= T < tolerating <= 4T < frustrated (T is
APDEX_THRESHOLD_SECONDS; a 5xx is frustrated whatever its speed). Percentiles come from the histogram
(histogram_quantile in Prometheus). With several processes per host (gunicorn workers, Celery), set
PROMETHEUS_MULTIPROC_DIR to a shared empty folder and /metrics adds them all up."""

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable

from celery import signals
from django.conf import settings
from django.http import HttpResponse, HttpResponseNotFound
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REGISTRY = CollectorRegistry()
_T = settings.APDEX_THRESHOLD_SECONDS
BUCKETS = sorted({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, _T, 4 * _T})

REQUESTS = Counter(
    "herochecklist_http_requests",
    "HTTP requests by route, method and status",
    ["route", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "herochecklist_http_request_duration_seconds",
    "Time to answer, by route",
    ["route", "method"],
    buckets=BUCKETS,
    registry=REGISTRY,
)
APDEX = Counter(
    "herochecklist_http_apdex",
    "Requests per Apdex zone (satisfied, tolerating, frustrated), by route",
    ["route", "zone"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "herochecklist_http_error_responses", "404 and 5xx responses, by route", ["route", "kind"], registry=REGISTRY
)
TASKS = Counter(
    "herochecklist_celery_tasks",
    "Celery task outcomes (success, failure, retry)",
    ["task", "outcome"],
    registry=REGISTRY,
)
# Degraded, not down: work that a failing dependency made us skip or postpone (each is also logged).
AFTER_COMMIT_FAILURES = Counter(
    "herochecklist_after_commit_failures",
    "Callbacks after a committed write that failed (e.g. the broker was down); the write itself succeeded",
    ["callback"],
    registry=REGISTRY,
)
RATE_LIMIT_FAIL_OPEN = Counter(
    "herochecklist_rate_limit_fail_open",
    "Requests let through unthrottled because the rate-limit counter (the cache Redis) was unreachable",
    registry=REGISTRY,
)
CACHE_FAILURES = Counter(
    "herochecklist_cache_failures",
    "Calls to the cache Redis that timed out or could not connect (each opens or reopens the cache breaker)",
    registry=REGISTRY,
)
CACHE_BREAKER_OPEN = Gauge(
    "herochecklist_cache_breaker_open",
    "1 while this process skips the cache Redis after a failure (core/breaker.py), else 0",
    registry=REGISTRY,
)
DATABASE_UNAVAILABLE = Counter(
    "herochecklist_database_unavailable",
    "API requests answered 503 because the database refused the operation (down, full or read-only)",
    registry=REGISTRY,
)
PROGRESS_SWEEP_QUEUED = Counter(
    "herochecklist_progress_sweep_queued",
    "Progress property syncs queued by the periodic sweep for checklists whose synced version was behind",
    registry=REGISTRY,
)
APDEX_THRESHOLD = Gauge(
    "herochecklist_apdex_threshold_seconds", "The Apdex T in use", registry=REGISTRY, multiprocess_mode="max"
)
APDEX_THRESHOLD.set(_T)
INFO = Gauge(
    "herochecklist_release_info", "Release of the running code", ["release"], registry=REGISTRY, multiprocess_mode="max"
)
INFO.labels(settings.RELEASE).set(1)


def apdex_zone(seconds: float, status: int) -> str:
    if status >= 500 or seconds > 4 * _T:
        return "frustrated"
    return "satisfied" if seconds <= _T else "tolerating"


# The methods a label may name. A method is whatever token the client sends (Django answers `FOO /` too, 405 or 404):
# as a label, each new one a scanner made up was a new series of every route's counters and histogram, for the life
# of the process (and of PROMETHEUS_MULTIPROC_DIR's files). Any other is counted as "other".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    """Counts every response by its URL pattern (never the raw path: ids in paths would explode the series)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        route = (match.route or match.view_name or "unnamed") if match else "unmatched"
        if route != "metrics":
            status = response.status_code
            method = request.method if request.method in HTTP_METHODS else "other"
            REQUESTS.labels(route, method, str(status)).inc()
            LATENCY.labels(route, method).observe(elapsed)
            APDEX.labels(route, apdex_zone(elapsed, status)).inc()
            if status == 404 or status >= 500:
                ERRORS.labels(route, "not_found" if status == 404 else "server_error").inc()
            user_wait_record("server", "request", elapsed, failed=status >= 500)
        return response


def metrics_view(request):
    """Prometheus text format, for a scraper holding METRICS_TOKEN (Authorization: Bearer ...)."""
    token = settings.METRICS_TOKEN
    # Only the Authorization header, only the Bearer scheme: a bare token, another scheme or a query parameter
    # (which would end up in access logs) is refused like a wrong token.
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme != "Bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        return HttpResponseNotFound()  # the endpoint does not exist for anyone without the token
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(SCRAPE_COLLECTOR)  # read at scrape time, once, not per process
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _task_name(sender) -> str:
    return getattr(sender, "name", None) or str(sender)


@signals.task_success.connect(weak=False)
def _on_success(sender=None, **kwargs):
    TASKS.labels(_task_name(sender), "success").inc()


@signals.task_failure.connect(weak=False)
def _on_failure(sender=None, **kwargs):
    TASKS.labels(_task_name(sender), "failure").inc()


@signals.task_retry.connect(weak=False)
def _on_retry(sender=None, **kwargs):
    TASKS.labels(_task_name(sender), "retry").inc()


# --- What the user waited for, on both sides (h-monitor) ----------------------------------------------------------
# One histogram and one Apdex counter with a `side` label: "server" (every response, as the middleware timed it) and
# "client" (what the panel reports through the timing beacon: kind "render" from page start to the first render, kind
# "api" for each API call as the browser saw it). Labels are fixed sets, so the series count stays bounded.
_CLIENT_T = settings.CLIENT_APDEX_THRESHOLD_SECONDS
WAIT_BUCKETS = sorted(set(BUCKETS) | {_CLIENT_T, 4 * _CLIENT_T, 20.0, 30.0})
USER_WAIT = Histogram(
    "herochecklist_user_wait_seconds",
    "What the user waited for: side=server (a response, timed by the server) or side=client (the panel's first "
    "render, kind=render, or an API call as the browser saw it, kind=api)",
    ["side", "kind"],
    buckets=WAIT_BUCKETS,
    registry=REGISTRY,
)
USER_APDEX = Counter(
    "herochecklist_user_apdex",
    "Waits per Apdex zone (satisfied, tolerating, frustrated), by side and kind",
    ["side", "kind", "zone"],
    registry=REGISTRY,
)
CLIENT_APDEX_THRESHOLD = Gauge(
    "herochecklist_client_apdex_threshold_seconds",
    "The Apdex T for what the browser reports",
    registry=REGISTRY,
    multiprocess_mode="max",
)
CLIENT_APDEX_THRESHOLD.set(_CLIENT_T)
CLIENT_REPORTS = Counter(
    "herochecklist_client_timing_reports",
    "Timing beacons by outcome (accepted, ignored: reporting off for the site, rejected, rate_limited)",
    ["outcome"],
    registry=REGISTRY,
)


def _zone(seconds: float, threshold: float, failed: bool) -> str:
    if failed or seconds > 4 * threshold:
        return "frustrated"
    return "satisfied" if seconds <= threshold else "tolerating"


def user_wait_record(side: str, kind: str, seconds: float, *, failed: bool = False) -> None:
    """One wait into the histogram and its Apdex zone; a failed wait (5xx, network error) is frustrated."""
    zone = _zone(seconds, _CLIENT_T if side == "client" else _T, failed)
    USER_WAIT.labels(side, kind).observe(seconds)
    USER_APDEX.labels(side, kind, zone).inc()


# --- Read at scrape time (h-monitor) --------------------------------------------------------------------------------
# Some numbers live elsewhere (the broker's queue, the cache, the database, the backup store) and are read when
# Prometheus scrapes. Each source is a function returning metric families, kept cheap (short network timeouts,
# indexed and bounded queries); one that fails costs its own numbers only: herochecklist_collector_up{collector}
# says 0 and the rest of /metrics is still served.
# Apps register their own sources in AppConfig.ready() (core imports none of our apps).
_scrape_sources: dict[str, Callable[[], Iterable]] = {}


def scrape_source_register(name: str, source) -> None:
    """source() -> iterable of prometheus_client metric families (GaugeMetricFamily...); name labels its up gauge."""
    _scrape_sources[name] = source


class _ScrapeCollector:
    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily(
            "herochecklist_collector_up", "1 when a scrape-time source answered, 0 when it failed", labels=["collector"]
        )
        for name, source in list(_scrape_sources.items()):
            try:
                families = list(source())
            except Exception as exc:  # fail soft: one source down must not take /metrics down with it
                logging.getLogger(__name__).warning("metrics source %s failed: %s", name, type(exc).__name__)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up

    def describe(self):
        return []  # no up-front description: the sources may change between scrapes


SCRAPE_COLLECTOR = _ScrapeCollector()
REGISTRY.register(SCRAPE_COLLECTOR)

HEARTBEAT_KEY = "monitor:heartbeat:{}"  # in the shared cache: the time the worker (or beat) was last seen alive
HEARTBEAT_TASK = "operations.tasks.heartbeat_task"


def celery_queue_length() -> int | None:
    """Tasks waiting in the default queue: a Redis list named like the queue (kombu's Redis transport). None when the
    broker is not Redis (eager mode). Short timeouts: a slow broker answers nothing rather than hold the scrape."""
    import redis

    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        return int(client.llen(settings.CELERY_TASK_DEFAULT_QUEUE))
    finally:
        client.close()


def _queue_families():
    from prometheus_client.core import GaugeMetricFamily

    length = celery_queue_length()
    if length is None:
        return []
    family = GaugeMetricFamily("herochecklist_celery_queue_length", "Tasks waiting in the broker", labels=["queue"])
    family.add_metric([settings.CELERY_TASK_DEFAULT_QUEUE], length)
    return [family]


def heartbeat_record(role: str) -> None:
    from django.core.cache import cache

    cache.set(HEARTBEAT_KEY.format(role), time.time(), timeout=None)


def _heartbeat_families():
    from django.core.cache import cache
    from prometheus_client.core import GaugeMetricFamily

    seen = cache.get_many([HEARTBEAT_KEY.format(role) for role in ("worker", "beat")])
    family = GaugeMetricFamily(
        "herochecklist_celery_heartbeat_timestamp_seconds",
        "When a Celery worker ran (role=worker) or beat sent (role=beat) the heartbeat task, Unix time",
        labels=["role"],
    )
    for role in ("worker", "beat"):
        stamp = seen.get(HEARTBEAT_KEY.format(role))
        if isinstance(stamp, int | float):
            family.add_metric([role], float(stamp))
    return [family]


scrape_source_register("queue", _queue_families)
scrape_source_register("heartbeat", _heartbeat_families)


@signals.before_task_publish.connect(weak=False)
def _on_publish(sender=None, **kwargs):
    # Beat is the only process that publishes the heartbeat task (every minute): its publishing is beat's pulse.
    if sender == HEARTBEAT_TASK:
        try:
            heartbeat_record("beat")
        except Exception as exc:  # a cache outage must not stop beat from sending the task
            logging.getLogger(__name__).warning("beat heartbeat not recorded: %s", type(exc).__name__)
