"""OUTBOUND_PROXY_URL (core/proxy.py, core/outbound.py): Jira's calls go through the one configured proxy, a real
forward proxy on 127.0.0.1 (devhost/forward_proxy.py), or directly when it is empty; the environment's proxies never
count; a proxy that is down or slow is Jira down or slow."""

import logging

import httpx
import pytest

from checklists.models import ChecklistItem
from core import outbound, proxy
from core.scrub import scrub_text
from tenants.jira import JiraClient, JiraError
from tenants.models import Tenant
from tests.conftest import Api, signed_install

pytestmark = pytest.mark.django_db

PROPERTY = "/rest/api/3/issue/10001/properties/herochecklist-progress"


def push(tenant) -> None:
    JiraClient(tenant, backoff=0.01).set_issue_property("10001", "herochecklist-progress", {"done": 1, "total": 2})


def test_the_progress_push_goes_through_the_proxy_when_set_and_directly_when_not(
    tenant, standin, forward_proxy, settings
):
    push(tenant)
    assert forward_proxy.passed == []  # the default: straight to Jira
    settings.OUTBOUND_PROXY_URL = forward_proxy.url
    push(tenant)
    [through] = forward_proxy.passed
    assert (through.method, through.url) == ("PUT", f"{standin.base_url}{PROPERTY}")
    # Jira got both, signed as ever (the qsh covers the path, which the proxy passed on unchanged).
    assert [(call.method, call.authorization_ok) for call in standin.recorded] == [("PUT", True), ("PUT", True)]


def test_the_permission_check_goes_through_the_proxy(client, tenant, standin, forward_proxy, settings):
    settings.OUTBOUND_PROXY_URL = forward_proxy.url
    assert Api(client, tenant, account_id="557058:bob").add("through the proxy").status_code == 201
    assert standin.permission_checks and len(forward_proxy.passed) == len(standin.permission_checks)
    assert {passed.method for passed in forward_proxy.passed} == {"POST"}


def test_a_signed_installs_key_is_fetched_through_the_proxy(client, standin, forward_proxy, settings):
    settings.OUTBOUND_PROXY_URL = forward_proxy.url
    standin.shared_secret = "s" * 48
    answer = signed_install(client, standin)
    assert answer.status_code == 204, answer.content
    assert [passed.method for passed in forward_proxy.passed] == ["GET"]
    assert forward_proxy.passed[0].url.startswith(f"{standin.install_keys_url}/")


def test_an_https_site_is_reached_through_a_connect_tunnel_and_a_refused_tunnel_is_retryable(
    tenant, forward_proxy, settings
):
    # Jira is https in production: the proxy sees only CONNECT host:443. This one opens no tunnels (501), as a proxy
    # refusing our login (407) would not: a transport error, the push's retry, as for a Jira that does not answer.
    Tenant.objects.filter(id=tenant.id).update(base_url="https://site.invalid")
    tenant.refresh_from_db()
    settings.OUTBOUND_PROXY_URL = forward_proxy.url
    with pytest.raises(JiraError) as caught:
        push(tenant)
    assert caught.value.retryable and "ProxyError" in str(caught.value)
    assert {(passed.method, passed.url) for passed in forward_proxy.passed} == {("CONNECT", "site.invalid:443")}


def test_the_proxys_credentials_reach_it_and_never_the_logs(tenant, standin, settings, caplog):
    from devhost.forward_proxy import ForwardProxy

    with_login = ForwardProxy(credentials=("corp user", "pr0xy-p@ss:word")).start()
    try:
        settings.OUTBOUND_PROXY_URL = with_login.url.replace(
            "corp user:pr0xy-p@ss:word", "corp%20user:pr0xy-p%40ss%3Aword"
        )
        with caplog.at_level(logging.DEBUG):
            push(tenant)
    finally:
        with_login.stop()
    [through] = with_login.passed
    assert through.proxy_authorization == with_login.expected_authorization()  # else the proxy answered 407
    assert standin.property("10001", "herochecklist-progress") == {"done": 1, "total": 2}
    assert "pr0xy-p" not in caplog.text and "pr0xy-p%40ss" not in caplog.text
    # Whatever names the proxy in a log line or a Sentry event loses its password (core/scrub.py).
    scrubbed = scrub_text(f"proxy {settings.OUTBOUND_PROXY_URL} said no; login pr0xy-p@ss:word")
    assert "pr0xy-p%40ss%3Aword" not in scrubbed and "pr0xy-p@ss:word" not in scrubbed


def test_the_environments_proxies_change_nothing(tenant, standin, forward_proxy, settings, monkeypatch, closed_port):
    dead = f"http://127.0.0.1:{closed_port}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, dead)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("no_proxy", "*")
    push(tenant)  # directly, past the dead proxy the environment names
    assert len(standin.recorded) == 1
    settings.OUTBOUND_PROXY_URL = forward_proxy.url
    push(tenant)  # through ours, NO_PROXY=* notwithstanding
    assert len(forward_proxy.passed) == 1 and len(standin.recorded) == 2


def test_a_proxy_that_is_down_is_a_retryable_push_and_a_read_only_json_answer(
    client, tenant, standin, settings, closed_port
):
    settings.OUTBOUND_PROXY_URL = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(JiraError) as caught:
        push(tenant)
    assert caught.value.retryable and "ConnectError" in str(caught.value)
    # The request path: as for a Jira that does not answer, read-only, a JSON 403, nothing written.
    refused = Api(client, tenant, account_id="557058:bob").add("nobody to ask")
    assert refused.status_code == 403 and refused.json()["jiraAnswered"] is False
    assert not ChecklistItem.objects.exists()
    assert standin.recorded == [] and standin.permission_checks == []


@pytest.mark.parametrize(
    ("phase", "target", "request_line"),
    [
        # Plain http: the absolute URI goes to the proxy, whose answer trickles.
        ("body", "http://jira.invalid/rest/api/3/myself", b"GET http://jira.invalid/rest/api/3/myself HTTP/1.1"),
        # https: the CONNECT's own answer trickles, before any TLS.
        ("headers", "https://jira.invalid/rest/api/3/myself", b"CONNECT jira.invalid:443 HTTP/1.1"),
    ],
)
def test_a_proxy_trickling_its_answer_is_a_timeout_at_the_deadline(trickle, settings, phase, target, request_line):
    trickle.phase = phase
    settings.OUTBOUND_PROXY_URL = trickle.base_url
    with pytest.raises(httpx.TimeoutException):
        outbound.request("GET", target, within=0.3)
    assert trickle.requests[0].startswith(request_line), trickle.requests
    assert trickle.ended() == ["client"]  # we hung up at the deadline; the proxy would have trickled for 15 s


@pytest.mark.parametrize(
    "value",
    [
        "proxy.corp:3128",  # no scheme
        "socks5://proxy.corp:1080",
        "ftp://proxy.corp",
        "http://",
        "http://:3128",
        "http://proxy.corp:3128/path",
        "http://proxy.corp:3128?x=1",
        "http://proxy.corp:3128#frag",
        "http://proxy.corp:99999",
        "http://proxy.corp:0",
        "http://proxy corp:3128",
        " http://proxy.corp:3128",
    ],
)
def test_parse_refuses_what_is_not_a_bare_http_proxy_url(value):
    with pytest.raises(proxy.BadProxyURL) as caught:
        proxy.parse(value)
    assert value.strip() not in str(caught.value)


def test_parse_reads_host_port_and_decoded_credentials():
    assert proxy.parse("") is None
    parsed = proxy.parse("https://me%40corp:p%3Ass@[::1]:8443/")
    assert parsed is not None
    assert (parsed.url, parsed.host, parsed.port, parsed.credentials) == (
        "https://[::1]:8443",
        "::1",
        8443,
        ("me@corp", "p:ss"),
    )
    assert "p:ss" not in repr(parsed)
    assert proxy.parse("http://proxy.corp").url == "http://proxy.corp"  # type: ignore[union-attr]
