"""Client-side Apdex end to end: the panel in Chromium inside the simulated Jira page times its first render and its
API calls, and when the page is left its beacon (numbers and the credential only) reaches /metrics."""

import json
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.checklists.conftest import add, panel
from tests.conftest import TOKEN

pytestmark = pytest.mark.django_db(transaction=True)
WAIT = "herochecklist_user_wait_seconds_count"
HIDE = """() => {
  Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


def client_waits(base_url: str) -> dict[str, float]:
    response = httpx.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200
    counts = {"render": 0.0, "api": 0.0}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == WAIT and sample.labels.get("side") == "client":
                counts[sample.labels["kind"]] = sample.value
    return counts


def wait_for_waits(base_url: str, check) -> dict[str, float]:
    deadline = time.monotonic() + 30
    counts = client_waits(base_url)
    while not check(counts) and time.monotonic() < deadline:
        time.sleep(0.2)
        counts = client_waits(base_url)
    return counts


def test_the_panel_s_timings_arrive_in_metrics(page, live_server):  # noqa: F811
    beacons = []
    page.context.on("request", lambda r: beacons.append(r) if "/telemetry/client-timings" in r.url else None)
    start = client_waits(live_server.url)
    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    add(frame, "Measure what the user waits for")

    # The user switches to another tab: the panel is hidden, and its batch goes out by sendBeacon. (Headless Chromium
    # never hides a page, so the panel's document is told so, as the browser would.)
    (panel_frame,) = [f for f in page.frames if "/connect/panel" in f.url]
    panel_frame.evaluate(HIDE)
    hidden = wait_for_waits(live_server.url, lambda c: c["render"] >= start["render"] + 1)
    assert hidden["render"] == start["render"] + 1  # one first render
    assert hidden["api"] >= start["api"] + 2  # the checklist read and the item write, at least
    assert len(beacons) == 1
    assert beacons[0].method == "POST"
    body = json.loads(beacons[0].post_data)
    assert set(body) <= {"authorization", "render", "api", "failed"}  # numbers, and the credential
    assert body["authorization"].startswith("Bearer ")
    assert isinstance(body["render"], float | int) and 0 < body["render"] < 30
    assert body["api"] and all(isinstance(x, float | int) and 0 <= x < 30 for x in body["api"])

    # Back on the issue, one more change, then the user leaves it: the rest goes out as the page unloads.
    panel_frame.evaluate("() => { delete document.visibilityState; }")
    add(frame, "And report it when leaving")
    page.goto("about:blank")
    left = wait_for_waits(live_server.url, lambda c: c["api"] >= hidden["api"] + 1)
    assert left["api"] >= hidden["api"] + 1
    assert left["render"] == hidden["render"]  # the first render is reported once
