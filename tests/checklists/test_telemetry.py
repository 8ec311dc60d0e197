"""The panel's timing beacon (checklists/telemetry.py): numbers only, authenticated like the Authorization header,
rate-limited, switchable per site, and into the side="client" Apdex and histogram on /metrics."""

import json
from urllib.parse import urlsplit

import pytest

from tenants.models import Tenant
from tenants.services import tenant_set_client_timing
from tests.conftest import ISSUE, TOKEN, Api, fit, scrape, value

pytestmark = pytest.mark.django_db

URL = "/telemetry/client-timings"
WAIT = "herochecklist_user_wait_seconds_count"
ZONES = "herochecklist_user_apdex_total"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.CLIENT_APDEX_THRESHOLD_SECONDS = 1.0  # the zones below are computed against this T


@pytest.fixture
def credential(client, tenant):
    return Api(client, tenant).authorization  # "Bearer <panel token>", as the transport holds it


def beacon(client, body, *, content_type="text/plain;charset=UTF-8", **headers):
    """What navigator.sendBeacon sends for a string: a text/plain POST, no Authorization header."""
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(URL, data=data, content_type=content_type, **headers)


def client_counts(samples) -> dict:
    counts = {kind: value(samples, WAIT, side="client", kind=kind) for kind in ("render", "api")}
    for zone in ("satisfied", "tolerating", "frustrated"):
        counts[zone] = sum(value(samples, ZONES, side="client", kind=k, zone=zone) for k in ("render", "api"))
    return counts


def test_a_beacon_lands_in_the_client_histogram_and_apdex_zones(client, credential):
    before = client_counts(scrape(client))
    body = {"authorization": credential, "render": 0.8, "api": [0.2, 2.5], "failed": [0.1]}
    response = beacon(client, body)
    assert response.status_code == 204
    assert response.content == b""
    after = client_counts(scrape(client))
    delta = {key: after[key] - before[key] for key in after}
    # render 0.8 <= T; api 0.2 <= T, 2.5 in (T, 4T]; a failed call is frustrated however fast.
    assert delta == {"render": 1, "api": 3, "satisfied": 2, "tolerating": 1, "frustrated": 1}


def test_the_server_side_sits_beside_the_client_side(client):
    before = scrape(client)
    assert client.get("/healthz").status_code == 200
    after = scrape(client)
    assert value(after, WAIT, side="server", kind="request") == value(before, WAIT, side="server", kind="request") + 1


def test_a_forge_panel_reports_with_its_invocation_token_in_the_header(client, standin, settings):
    before = client_counts(scrape(client))
    token = fit(standin, settings)
    response = beacon(client, {"api": [0.3]}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 204
    assert client_counts(scrape(client))["api"] == before["api"] + 1


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-token", "JWT not-a-token", 12345],
    ids=["missing", "bad-bearer", "bad-jwt", "not-a-string"],
)
def test_without_a_valid_credential_it_is_401_and_nothing_is_counted(client, tenant, authorization):
    before = client_counts(scrape(client))
    body = {"render": 0.5} if authorization is None else {"authorization": authorization, "render": 0.5}
    response = beacon(client, body)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}
    assert client_counts(scrape(client)) == before


def test_a_credential_in_both_the_header_and_the_body_is_refused(client, credential):
    response = beacon(client, {"authorization": credential, "render": 0.5}, HTTP_AUTHORIZATION=credential)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"render": "0.5"}, "render"),
        ({"render": True}, "render"),
        ({"render": -1}, "render"),
        ({"render": 121}, "render"),
        ({"api": [0.1, "slow"]}, "api"),
        ({"api": "0.1"}, "api"),
        ({"api": [0.1] * 21}, "api"),
        ({"failed": [{"ms": 3}]}, "failed"),
        ({"issueKey": "DEMO-1", "render": 0.5}, "issueKey"),
        ({"message": "what the user typed", "render": 0.5}, "message"),
        ({}, "body"),
    ],
)
def test_anything_but_bounded_numbers_is_a_400_naming_the_field(client, credential, extra, field):
    before = client_counts(scrape(client))
    response = beacon(client, {"authorization": credential, **extra})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_failed"
    assert field in body["fields"]
    assert client_counts(scrape(client)) == before


def test_not_a_number_is_refused_too(client, credential):
    # Python's json reads NaN and Infinity; JSON has neither (core.jsonbody refuses them), and neither is a duration.
    for raw in ("NaN", "Infinity", "1e400"):
        response = beacon(client, f'{{"authorization": "{credential}", "render": {raw}}}')
        assert response.status_code == 400
        assert response.json()["fields"] == {"body": "is not valid JSON"}


@pytest.mark.parametrize("data", [b" ", b"{not json", b"\xff\xfe", b'{"api":' + b"[" * 5000 + b"]" * 5000 + b"}"])
def test_a_body_that_is_not_json_is_a_400(client, data):
    response = beacon(client, data)
    assert response.status_code == 400
    assert response.json() == {"error": "validation_failed", "fields": {"body": "is not valid JSON"}}


def test_a_body_that_is_not_a_json_object_is_a_400(client):
    response = beacon(client, b"[0.5]")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_body", "fields": {"body": "must be a JSON object"}}


def test_other_methods_media_types_and_sizes_get_json_errors(client, credential):
    response = client.get(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json() == {"error": "method_not_allowed"}
    response = beacon(
        client, {"authorization": credential, "render": 0.5}, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert "Content-Type" in response.json()["fields"]
    response = beacon(client, {"authorization": credential, "render": 0.5, "pad": "x" * 13_000})
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


def test_beacons_beyond_the_rate_limit_get_429(client, credential, settings):
    settings.CLIENT_TIMING_RATE_PER_MINUTE = 2
    responses = [beacon(client, {"authorization": credential, "api": [0.1]}) for _ in range(5)]
    codes = [r.status_code for r in responses]
    # Two per clock minute. Five beacons meet a 429 even if the minute turns once between them.
    assert codes[:2] == [204, 204]
    assert set(codes) == {204, 429}
    limited = responses[codes.index(429)]
    assert limited.json() == {"error": "rate_limited"}
    assert limited["Retry-After"] == "60"


def test_a_site_that_switched_reporting_off_is_answered_204_and_nothing_is_kept(client, tenant, credential):
    tenant_set_client_timing(tenant=tenant, enabled=False)
    before = scrape(client)
    response = beacon(client, {"authorization": credential, "render": 0.5, "api": [0.1]})
    assert response.status_code == 204
    after = scrape(client)
    assert client_counts(after) == client_counts(before)
    ignored = "herochecklist_client_timing_reports_total"
    assert value(after, ignored, outcome="ignored") == value(before, ignored, outcome="ignored") + 1


def test_the_connect_panel_is_told_where_to_report_only_when_reporting_is_on(client, tenant, standin):
    def config():
        url = urlsplit(standin.panel_url(ISSUE))
        response = client.get(f"{url.path}?{url.query}")
        assert response.status_code == 200, response.content[:300]
        text = response.content.decode()
        start = text.index('id="herochecklist-config"')
        return json.loads(text[text.index(">", start) + 1 : text.index("</script>", start)])

    assert config()["timingUrl"] == URL
    tenant_set_client_timing(tenant=tenant, enabled=False)
    assert "timingUrl" not in config()


def test_a_superuser_switches_reporting_off_in_the_admin(tenant, staff):
    admin = staff("superuser")
    page = f"/admin/tenants/tenant/{tenant.pk}/change/"
    response = admin.get(page)
    assert response.status_code == 200
    assert b'name="client_timing_enabled"' in response.content
    response = admin.post(page, {})  # an unchecked box is absent from the form
    assert response.status_code == 302, response.content[:500]
    assert Tenant.objects.get(pk=tenant.pk).client_timing_enabled is False


def test_support_staff_cannot_change_the_setting(tenant, staff):
    support = staff("support")
    page = f"/admin/tenants/tenant/{tenant.pk}/change/"
    assert b'name="client_timing_enabled"' not in support.get(page).content
    assert support.post(page, {}).status_code == 403
    assert Tenant.objects.get(pk=tenant.pk).client_timing_enabled is True
