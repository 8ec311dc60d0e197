"""Request bodies as a real server hands them over (chunked ones too), and the small contract rules of the write
endpoints: no-op writes on an issue without a checklist, strict If-Match, JSON Content-Type, strong ETags."""

import gzip
import os
import re
import subprocess
import sys
import time

import httpx
import pytest
from django.db import connection

from checklists.models import Checklist, ChecklistItem
from tests.conftest import ROOT, Api


@pytest.fixture
def server(transactional_db, standin, settings):
    """The app under gunicorn (a real HTTP server, which de-chunks bodies) on a port it picks, on this test's
    database and Jira stand-in; yields its base URL."""
    if connection.vendor == "mongodb":
        url = os.environ["DATABASE_URL"].replace("/herochecklist?", f"/{connection.settings_dict['NAME']}?")
    else:
        url = f"sqlite:///{connection.settings_dict['NAME']}"
    log = ROOT / "var" / f"gunicorn-{os.getpid()}-{time.monotonic_ns()}.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "herochecklist.wsgi:application",
            "-b",
            "127.0.0.1:0",
            "-w",
            "1",
            "--no-control-socket",
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "ALLOWED_JIRA_HOSTS": ",".join(settings.ALLOWED_JIRA_HOSTS)},
        stderr=log.open("w"),
    )
    try:
        deadline = time.monotonic() + 60
        port = None
        while port is None and time.monotonic() < deadline and process.poll() is None:
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text())
            port = found and int(found.group(1))
            time.sleep(0.05)
        assert port, log.read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.unlink(missing_ok=True)


def _chunks(data: bytes, size: int = 1000):
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.django_db(transaction=True)
def test_a_chunked_text_put_stores_the_text_sent(server, client, tenant):
    api = Api(client, tenant)
    text = "".join(f"- [ ] step {n}\n" for n in range(40)).encode()
    response = httpx.put(
        server + api.url("/text"),
        content=_chunks(text),  # an iterator: httpx sends it with Transfer-Encoding: chunked
        headers={"Authorization": api.authorization, "Content-Type": "text/plain"},
        timeout=120,
    )
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 200, response.text
    assert ChecklistItem.objects.count() == 40
    assert api.get("/text").content == text


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_over_the_limit_is_refused_and_stores_nothing(server, client, tenant, settings):
    api = Api(client, tenant)
    api.put_text("- [ ] keep me\n")
    big = b"- [ ] " + b"x" * 60 + b"\n"
    body = big * (5_000_000 // len(big))
    response = httpx.put(
        server + api.url("/text"),
        content=_chunks(body, 64_000),
        headers={"Authorization": api.authorization, "Content-Type": "text/plain"},
        timeout=120,
    )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert list(ChecklistItem.objects.values_list("text", flat=True)) == ["keep me"]


@pytest.mark.django_db(transaction=True)
def test_an_empty_chunked_text_put_never_clears_the_checklist(server, client, tenant):
    api = Api(client, tenant)
    api.put_text("- [ ] keep me\n")
    response = httpx.put(
        server + api.url("/text"),
        content=iter([b""]),
        headers={"Authorization": api.authorization, "Content-Type": "text/plain"},
        timeout=120,
    )
    assert response.status_code == 422
    assert "body" in response.json()["fields"]
    assert list(ChecklistItem.objects.values_list("text", flat=True)) == ["keep me"]


@pytest.mark.django_db
def test_an_empty_text_put_is_refused_and_a_blank_line_clears(api):
    api.put_text("- [ ] one\n- [ ] two\n")
    refused = api.put_text("")
    assert refused.status_code == 422
    assert refused.json()["fields"] == {"body": refused.json()["fields"]["body"]}
    assert ChecklistItem.objects.count() == 2
    cleared = api.put_text("\n")
    assert cleared.status_code == 200
    assert cleared.json()["items"] == [] and cleared.json()["version"] == 2


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["\ufeff", "\ufeff\n", "\ufeff \r\n\t\n"])
def test_a_byte_order_mark_alone_is_an_empty_text_put(api, body):
    api.put_text("- [ ] one\n- [ ] two\n")
    empty = api.put_text("")
    refused = api.put_text(body)
    assert (refused.status_code, refused.json()) == (empty.status_code, empty.json())
    assert ChecklistItem.objects.count() == 2 and api.get().json()["version"] == 1
    assert api.put_text("\ufeff- [ ] one\n").json()["version"] == 2  # a BOM before items is only a BOM
    assert [i["text"] for i in api.get().json()["items"]] == ["one"]


@pytest.mark.django_db
def test_no_op_writes_on_an_issue_without_a_checklist_answer_the_empty_checklist(api):
    for response in (
        api.put_text(""),
        api.put_text("\ufeff"),
        api.put_text("\n"),
        api.call("put", api.url("/order"), {"itemIds": []}),
    ):
        assert response.status_code == 200, response.content
        assert response.json()["items"] == [] and response.json()["version"] == 0
        assert response["ETag"] == '"0"'
    assert not Checklist.objects.exists()


def _add_after_one(api, if_match: str):
    api.add("one")
    return api.client.post(
        api.url("/items"),
        data='{"text": "two"}',
        content_type="application/json",
        HTTP_AUTHORIZATION=api.authorization,
        HTTP_IF_MATCH=if_match,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["\u00b9", "1\u00b2", "\u0661", '"1', "1 2", "*", "-1", '""', "1" * 13])
def test_if_match_other_than_a_version_is_400(api, value):
    response = _add_after_one(api, value)
    assert response.status_code == 400
    assert "If-Match" in response.json()["fields"]
    assert ChecklistItem.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["1", '"1"', 'W/"1"', ' "1" '])
def test_if_match_takes_the_version_quoted_or_not(api, value):
    response = _add_after_one(api, value)
    assert response.status_code == 201, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx"])
def test_a_json_endpoint_refuses_another_body_type_with_415(api, content_type):
    response = api.call("post", api.url("/items"), {"text": "one"}, content_type=content_type)
    assert response.status_code == 415
    assert response.json()["fields"] == {"Content-Type": "must be application/json"}
    assert not ChecklistItem.objects.exists()
    accepted = api.call("post", api.url("/items"), {"text": "one"}, content_type="application/json; charset=utf-8")
    assert accepted.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("charset", ["iso-8859-1", "windows-1252", "utf-16", '"latin1"'])
def test_a_body_declared_in_another_charset_is_415_and_writes_nothing(api, charset):
    """Bodies are read as UTF-8. One that says it is Latin-1 was read as UTF-8 all the same: "Ã©" sent as Latin-1
    (the bytes C3 A9) was stored as "é", a wrong write rather than an error. JSON and the text format alike."""
    latin1 = "Ã© done".encode("latin-1")  # also valid UTF-8, so only the declared charset tells them apart
    text = api.call(
        "put", api.url("/text"), b"- [ ] " + latin1, content_type=f"text/plain; charset={charset}", raw=True
    )
    item = api.call(
        "post",
        api.url("/items"),
        b'{"text": "' + latin1 + b'"}',
        content_type=f"application/json; charset={charset}",
        raw=True,
    )
    for response in (text, item):
        assert response.status_code == 415
        assert response.json()["fields"] == {"Content-Type": "the charset must be utf-8"}
    assert api.get().json()["version"] == 0
    # UTF-8 however it is spelled, and ASCII (a subset of it), are read as before.
    for declared in ("utf-8", "UTF-8", '"utf-8"', "utf8", "us-ascii"):
        sent = api.call(
            "post", api.url("/items"), {"text": "two"}, content_type=f"application/json; charset={declared}"
        )
        assert sent.status_code == 201
    assert (
        api.call("put", api.url("/text"), b"- [ ] ok", content_type="text/plain; charset=UTF-8", raw=True).status_code
        == 200
    )


@pytest.mark.django_db
def test_etags_stay_strong_when_the_answer_is_gzipped(api):
    api.put_text("".join(f"- [ ] step number {n}\n" for n in range(30)))
    response = api.client.get(api.url(), HTTP_AUTHORIZATION=api.authorization, HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"
    assert response["ETag"] == '"1"'
    assert len(gzip.decompress(response.content)) > 200
