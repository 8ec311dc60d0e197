"""Prometheus metrics: per-route throughput, latency histogram, Apdex zones, 404 and 5xx, Celery task outcomes.

Apdex = (satisfied + tolerating / 2) / all, with satisfied <= T < tolerating <= 4T < frustrated (T is
APDEX_THRESHOLD_SECONDS; a 5xx is frustrated whatever its speed). Percentiles come from the histogram
(histogram_quantile in Prometheus). With several processes per host (gunicorn workers, Celery), set
PROMETHEUS_MULTIPROC_DIR to a shared empty folder and /metrics adds them all up."""

import hmac
import os
import time

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
            REQUESTS.labels(route, request.method, str(status)).inc()
            LATENCY.labels(route, request.method).observe(elapsed)
            APDEX.labels(route, apdex_zone(elapsed, status)).inc()
            if status == 404 or status >= 500:
                ERRORS.labels(route, "not_found" if status == 404 else "server_error").inc()
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
