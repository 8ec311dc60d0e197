"""A real sentry-sdk client sends to a local HTTP server standing in for Sentry; we read what arrived."""

import gzip
import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk
from django.test import Client
from django.urls import path

from core import context
from core.sentry import init_sentry
from herochecklist import urls as project_urls
from tests.core.test_outages import refusing_databases, sqlite_only

ITEM_TEXT = "Pay the invoice of Globex before Friday"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJjbGllbnQta2V5In0.c2lnbmF0dXJlLWJ5dGVz"
EMAIL = "tech.contact@globex.example"
SHARED_SECRET = "shared-secret-9f8e7d6c5b4a3210"


class SentryStandIn(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            pytest.fail("brotli envelope: install nothing that enables it in tests")
        SentryStandIn.received.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def sentry_server():
    SentryStandIn.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), SentryStandIn)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    sentry_sdk.get_client().close()
    sentry_sdk.init(dsn=None)
    server.shutdown()


def save_item(text, sharedSecret, email):  # noqa: N803 (the local names Sentry would capture)
    token = JWT
    raise RuntimeError(f"failed to save {text!r} for {email} with {token}")


def test_a_captured_exception_reaches_sentry_scrubbed(sentry_server):
    port = sentry_server.server_address[1]
    init_sentry(dsn=f"http://publickey@127.0.0.1:{port}/1", release="test-release", environment="test")
    context.mark_sensitive(ITEM_TEXT)
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_extra("payload", {"sharedSecret": SHARED_SECRET, "issueKey": "PROJ-1"})
            scope.set_user({"email": EMAIL, "id": "557058:abc"})
            try:
                save_item(ITEM_TEXT, SHARED_SECRET, EMAIL)
            except RuntimeError as exc:
                sentry_sdk.capture_exception(exc)
        sentry_sdk.flush(timeout=5)
    finally:
        context.reset()
    assert SentryStandIn.received, "the event never reached the Sentry stand-in"
    raw = b"\n".join(SentryStandIn.received).decode()
    for leaked in (ITEM_TEXT, JWT, EMAIL, SHARED_SECRET):
        assert leaked not in raw
    events = [json.loads(line) for line in raw.splitlines() if line.startswith("{") and '"exception"' in line]
    assert len(events) == 1
    event = events[0]
    assert event["release"] == "test-release"
    assert event["environment"] == "test"
    assert event["extra"]["payload"]["issueKey"] == "PROJ-1"
    assert event["exception"]["values"][0]["type"] == "RuntimeError"


def test_events_go_through_the_outbound_proxy_and_never_the_environments(sentry_server, monkeypatch, closed_port):
    from devhost.forward_proxy import ForwardProxy

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port}")  # nothing answers there
    port = sentry_server.server_address[1]
    dsn = f"http://publickey@127.0.0.1:{port}/1"
    init_sentry(dsn=dsn, release="test-release", environment="test")
    sentry_sdk.capture_message("direct")
    sentry_sdk.flush(timeout=5)
    assert len(SentryStandIn.received) == 1  # directly, past the environment's dead proxy
    forward = ForwardProxy(credentials=("corp", "pr0xy-secret")).start()
    try:
        sentry_sdk.get_client().close()
        init_sentry(dsn=dsn, release="test-release", environment="test", proxy_url=forward.url)
        sentry_sdk.capture_message("through the proxy")
        sentry_sdk.flush(timeout=5)
    finally:
        forward.stop()
    assert len(SentryStandIn.received) == 2
    [through] = forward.passed
    assert through.method == "POST" and through.url.startswith(f"http://127.0.0.1:{port}/api/1/")
    assert through.proxy_authorization == forward.expected_authorization()


TEMPLATE_NAME = "Layoffs plan for Initech"
TEMPLATE_LINE = "Tell Milton about the basement"


@sqlite_only
@pytest.mark.django_db(transaction=True)
@refusing_databases
def test_customer_text_of_a_write_the_database_refused_reaches_sentry_scrubbed(
    sentry_server, client, tenant, standin, fault, undo
):
    """The database refusing a template's write is logged as an error, which Sentry takes with every frame's
    variables: the parsed body among them, the template's name and lines. Read-only, the transaction cannot even
    begin, before any service has read (and marked) anything; full, the INSERT fails with the name and text in the
    database layer's frames (its parameters)."""
    from django.db import connection

    from tests.conftest import Api

    port = sentry_server.server_address[1]
    init_sentry(dsn=f"http://publickey@127.0.0.1:{port}/1", release="test-release", environment="test")
    standin.grant("557058:alice", "admin")  # site-wide templates are changed by Jira admins
    padding = "".join(f"- [ ] step {n} {'x' * 1900}\n" for n in range(100))  # needs new database pages
    with connection.cursor() as cursor:  # the connection the test client's requests use (same thread)
        cursor.execute("VACUUM")  # earlier tests' free pages would take the write
        cursor.execute("PRAGMA page_count")
        cursor.execute(fault.format(pages=cursor.fetchone()[0]))
    try:
        response = Api(client, tenant).call(
            "post",
            "/api/v1/templates",
            {"name": TEMPLATE_NAME, "text": f"- [ ] {TEMPLATE_LINE}\n- [ ] \tSecond one\n{padding}"},
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute(undo)
    assert response.status_code == 503
    sentry_sdk.flush(timeout=5)
    raw = b"\n".join(SentryStandIn.received).decode()
    frames = [
        frame
        for line in raw.splitlines()
        if line.startswith("{") and '"exception"' in line
        for value in json.loads(line)["exception"]["values"]
        for frame in value["stacktrace"]["frames"]
    ]
    assert any(frame.get("function") == "template_create" for frame in frames), raw[:2000]
    for leaked in (TEMPLATE_NAME, TEMPLATE_LINE, "Second one"):
        assert leaked not in raw


# Joined at run time: Sentry sends the source lines around each frame, and this file's would show a literal.
SECRET_BODY_TEXT = " ".join(("Fire", "Bob", "from", "Acme", "quietly"))


def crash(request):
    raise RuntimeError("crashed")


urlpatterns = [path("crash", crash), *project_urls.urlpatterns]


@pytest.mark.urls(__name__)
def test_a_request_that_crashes_sends_none_of_its_credentials_cookies_addresses_or_body(sentry_server):
    port = sentry_server.server_address[1]
    init_sentry(dsn=f"http://publickey@127.0.0.1:{port}/1", release="test-release", environment="test")
    response = Client(raise_request_exception=False).post(
        f"/crash?jwt={JWT}&issueKey=PROJ-1",
        data=json.dumps({"text": SECRET_BODY_TEXT}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"JWT {JWT}",
        HTTP_COOKIE="sessionid=abcdefgh12345678; csrftoken=zyxwvutsrq987654",
        HTTP_X_FORWARDED_FOR="203.0.113.77",
        HTTP_USER_AGENT=f"Mozilla {EMAIL}",
        REMOTE_ADDR="192.0.2.44",
    )
    assert response.status_code == 500
    sentry_sdk.flush(timeout=5)
    raw = b"\n".join(SentryStandIn.received).decode()
    assert '"exception"' in raw
    for leaked in (JWT, "abcdefgh12345678", "zyxwvutsrq987654", "203.0.113.77", "192.0.2.44", EMAIL, SECRET_BODY_TEXT):
        assert leaked not in raw, leaked


FORGE_SYSTEM_TOKEN = "opaque-forge-system-token-5b1f0e9d8c7a"  # not shaped like a JWT: only its name says what it is


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_credential_in_a_variable_named_for_it_reaches_sentry_scrubbed(sentry_server, client, standin, settings):
    """A Forge call's system token is saved with the site; the database refusing that write leaves it in the frames'
    variables (system_token), which scrubbing must recognise by name, whatever the token looks like."""
    from django.db import connection

    from tests.conftest import forge_api

    port = sentry_server.server_address[1]
    init_sentry(dsn=f"http://publickey@127.0.0.1:{port}/1", release="test-release", environment="test")
    api = forge_api(client, standin, settings)
    api.headers["HTTP_X_FORGE_OAUTH_SYSTEM"] = FORGE_SYSTEM_TOKEN
    with connection.cursor() as cursor:  # the connection the test client's requests use (same thread)
        cursor.execute("PRAGMA query_only = 1")
    try:
        response = api.get()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA query_only = 0")
    assert response.status_code == 503, response.content
    sentry_sdk.flush(timeout=5)
    raw = b"\n".join(SentryStandIn.received).decode()
    assert '"system_token"' in raw  # the frame that held it reached Sentry, with its variables
    assert FORGE_SYSTEM_TOKEN not in raw
