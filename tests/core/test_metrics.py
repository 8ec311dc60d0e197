"""/metrics: protected by a token, and the Apdex inputs, error counters and task counters move with traffic."""

import pytest
from celery import shared_task
from django.test import Client
from django.urls import path

from herochecklist import urls as project_urls
from tests.conftest import TOKEN, scrape, value  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def token(settings):
    settings.METRICS_TOKEN = TOKEN


def test_metrics_need_the_token(client, settings):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404  # disabled without a token


def test_apdex_inputs_move_with_requests(client, settings):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    after = scrape(client)
    assert (
        value(after, "herochecklist_http_apdex_total", route="healthz", zone="satisfied")
        == value(before, "herochecklist_http_apdex_total", route="healthz", zone="satisfied") + 3
    )
    assert (
        value(after, "herochecklist_http_requests_total", route="healthz", method="GET", status="200")
        - value(before, "herochecklist_http_requests_total", route="healthz", method="GET", status="200")
        == 3
    )
    hist = "herochecklist_http_request_duration_seconds_count"
    assert value(after, hist, route="healthz", method="GET") - value(before, hist, route="healthz", method="GET") == 3
    threshold = str(settings.APDEX_THRESHOLD_SECONDS)
    assert (
        "herochecklist_http_request_duration_seconds_bucket",
        tuple(sorted({"route": "healthz", "method": "GET", "le": threshold}.items())),
    ) in after
    errors = "herochecklist_http_error_responses_total"
    assert (
        value(after, errors, route="unmatched", kind="not_found")
        == value(before, errors, route="unmatched", kind="not_found") + 1
    )
    assert value(after, "herochecklist_apdex_threshold_seconds") == settings.APDEX_THRESHOLD_SECONDS


def boom(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [path("boom", boom), *project_urls.urlpatterns]


@pytest.mark.urls(__name__)
def test_a_server_error_is_frustrated_and_counted():
    client = Client(raise_request_exception=False)
    before = scrape(client)
    assert client.get("/boom").status_code == 500
    after = scrape(client)
    frustrated = ("herochecklist_http_apdex_total", {"route": "boom", "zone": "frustrated"})
    server_errors = ("herochecklist_http_error_responses_total", {"route": "boom", "kind": "server_error"})
    for name, labels in (frustrated, server_errors):
        assert value(after, name, **labels) == value(before, name, **labels) + 1


def test_celery_task_outcomes_are_counted(client):
    @shared_task(name="tests.metrics_ok")
    def ok():
        return 1

    @shared_task(name="tests.metrics_fail")
    def fail():
        raise ValueError("expected")

    before = scrape(client)
    ok.delay()
    ok.delay()
    fail.delay()
    after = scrape(client)
    name = "herochecklist_celery_tasks_total"
    assert (
        value(after, name, task="tests.metrics_ok", outcome="success")
        - value(before, name, task="tests.metrics_ok", outcome="success")
        == 2
    )
    assert (
        value(after, name, task="tests.metrics_fail", outcome="failure")
        - value(before, name, task="tests.metrics_fail", outcome="failure")
        == 1
    )


def test_a_made_up_method_adds_no_series_of_its_own(client):
    """The method is the client's to choose: a scanner's inventions are counted, as "other", not as labels."""
    invented = [f"SCAN{n}" for n in range(3)]
    before = scrape(client)
    for method in invented:
        assert client.generic(method, "/no/such/page").status_code in (404, 405)
    after = scrape(client)
    assert not [key for key in after if any(("method", m) in key[1] for m in invented)]
    labels = {"route": "unmatched", "method": "other", "status": "404"}
    name = "herochecklist_http_requests_total"
    assert value(after, name, **labels) == value(before, name, **labels) + 3
