"""contacts/hubspot.py and OUTBOUND_PROXY_URL: HubSpot's calls (urllib3 under hubspot-api-client) go through the one
configured proxy, a real forward proxy on 127.0.0.1 (devhost/forward_proxy.py), or directly when it is empty."""

import time

import pytest

from contacts import hubspot as hubspot_api
from devhost.forward_proxy import ForwardProxy

ANN = {"email": "ann@example.com", "name": "Ann Smith"}


def upserts(stand_in) -> list:
    return [call for call in stand_in.calls if call.path.endswith("/batch/upsert")]


def test_an_upsert_goes_through_the_proxy_when_set_and_directly_when_not(hubspot, forward_proxy, settings):
    hubspot_api.upsert_contacts([ANN])
    assert forward_proxy.passed == []  # the default: straight to HubSpot
    settings.OUTBOUND_PROXY_URL = forward_proxy.url
    result = hubspot_api.upsert_contacts([ANN])
    [through] = forward_proxy.passed
    assert (through.method, through.url) == ("POST", f"{hubspot.base_url}/crm/v3/objects/contacts/batch/upsert")
    assert len(upserts(hubspot)) == 2 and set(result.ids) == {"ann@example.com"}


def test_the_proxys_credentials_go_as_a_header_of_their_own(hubspot, settings):
    with_login = ForwardProxy(credentials=("corp", "pr0xy-secret")).start()
    try:
        settings.OUTBOUND_PROXY_URL = with_login.url
        assert set(hubspot_api.upsert_contacts([ANN]).ids) == {"ann@example.com"}  # a 407 would have raised
    finally:
        with_login.stop()
    [through] = with_login.passed
    assert through.proxy_authorization == with_login.expected_authorization()


def test_the_environments_proxies_change_nothing(hubspot, forward_proxy, settings, monkeypatch):
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "*")
    settings.OUTBOUND_PROXY_URL = forward_proxy.url
    hubspot_api.upsert_contacts([ANN])
    assert len(forward_proxy.passed) == 1 and len(upserts(hubspot)) == 1


def test_a_proxy_that_is_down_is_hubspot_unreachable_and_transient(hubspot, settings, closed_port):
    settings.OUTBOUND_PROXY_URL = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(hubspot_api.HubSpotError) as caught:
        hubspot_api.upsert_contacts([ANN])
    assert caught.value.transient and "unreachable" in str(caught.value)
    assert upserts(hubspot) == []


def test_https_hubspot_is_reached_through_a_connect_tunnel_and_a_refused_tunnel_is_transient(
    hubspot, forward_proxy, settings
):
    # HubSpot is https in production: the proxy sees only CONNECT host:443; this one opens no tunnels (501).
    settings.HUBSPOT_BASE_URL = "https://hubspot.invalid"
    settings.OUTBOUND_PROXY_URL = forward_proxy.url
    with pytest.raises(hubspot_api.HubSpotError) as caught:
        hubspot_api.upsert_contacts([ANN])
    assert caught.value.transient
    assert {(passed.method, passed.url) for passed in forward_proxy.passed} == {("CONNECT", "hubspot.invalid:443")}


@pytest.mark.parametrize("phase", ["headers", "body"])
@pytest.mark.parametrize("through_proxy", [False, True], ids=["direct", "proxy"])
def test_a_hubspot_trickling_its_answer_is_cut_at_the_deadline_as_a_transient_error(
    hubspot, trickle, forward_proxy, settings, phase, through_proxy
):
    # Each byte comes well within the socket timeout (10 s here): only a deadline for the whole exchange ends this. A
    # second, not the fixture's 0.3 s: the SDK builds its client inside the call, slow on a loaded machine.
    settings.OUTBOUND_DEADLINE_SECONDS = 1.0
    trickle.phase = phase
    settings.HUBSPOT_BASE_URL = trickle.base_url
    if through_proxy:
        settings.OUTBOUND_PROXY_URL = forward_proxy.url
    started = time.monotonic()
    with pytest.raises(hubspot_api.HubSpotError) as caught:
        hubspot_api.upsert_contacts([ANN])
    elapsed = time.monotonic() - started
    assert caught.value.transient and "unreachable" in str(caught.value)
    # We hung up near OUTBOUND_DEADLINE_SECONDS, a generous bound still short of the server's 15 s of trickling.
    assert elapsed < 10 * settings.OUTBOUND_DEADLINE_SECONDS
    assert len(trickle.requests) == 1  # one call, not tried again inside the client
    if not through_proxy:  # the stand-in proxy keeps trickling on its side; the bound above is what counts there
        assert trickle.ended() == ["client"]


def test_a_list_addition_trickling_its_answer_is_cut_at_the_deadline_too(hubspot, trickle, settings):
    settings.OUTBOUND_DEADLINE_SECONDS = 1.0
    settings.HUBSPOT_BASE_URL = trickle.base_url
    with pytest.raises(hubspot_api.HubSpotError) as caught:
        hubspot_api.add_to_list("42", ["1001"])
    assert caught.value.transient
    assert trickle.ended() == ["client"]
