"""core.jsonbody: one parser; anything that is not JSON in UTF-8, or nests too deep, is BadJson (never a crash)."""

import pytest
from django.test import RequestFactory

from core.exceptions import ValidationFailed
from core.jsonbody import MAX_DEPTH, BadJson, bad_json_response, loads, request_json


def nested(depth: int, open_: str = "[", close: str = "]") -> bytes:
    return (open_ * depth + close * depth).encode()


@pytest.mark.parametrize(
    "data",
    [b'{"a": [1, 2.5, "\xc3\xa9", null, true]}', '{"a": "\u00e9"}', b"\xef\xbb\xbf[1]", b'"\\ud800"', b"12"],
)
def test_it_reads_json(data):
    loads(data)


def test_it_reads_nesting_up_to_the_limit():
    value = loads(nested(MAX_DEPTH))
    for _ in range(MAX_DEPTH - 1):
        value = value[0]
    assert value == []
    assert loads(b'{"a":' * (MAX_DEPTH - 1) + b"{}" + b"}" * (MAX_DEPTH - 1))
    assert loads(b"[" + b"[1]," * 5000 + b"[]]")  # many brackets, shallow


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   ",
        b"{not json",
        b"\xff\xfe[]",
        b'{"a": "\xc3"}',  # a cut UTF-8 sequence
        b'"\xed\xa0\x80"',  # a surrogate encoded as UTF-8 bytes
        "[1]".encode("utf-16"),
        b"NaN",
        b"[-Infinity]",
        b"1e400",
        b"[1] [2]",
        nested(MAX_DEPTH + 1),
        b'{"a":' * MAX_DEPTH + b"{}" + b"}" * MAX_DEPTH,
        nested(1000),
        nested(100_000),
        b'{"a": ' + nested(5000) + b"}",
    ],
)
def test_anything_else_is_bad_json(data):
    with pytest.raises(BadJson) as caught:
        loads(data)
    assert isinstance(caught.value, ValidationFailed)
    assert caught.value.status == 400
    assert caught.value.errors == {"body": "is not valid JSON"}


def test_a_request_without_a_body_gives_the_default():
    factory = RequestFactory()
    assert request_json(factory.post("/x", b"", content_type="application/json"), {}) == {}
    assert request_json(factory.post("/x", b'{"a": 1}', content_type="application/json")) == {"a": 1}
    with pytest.raises(BadJson):
        request_json(factory.post("/x", b"[[", content_type="application/json"))


def test_the_answer_names_the_body():
    response = bad_json_response()
    assert response.status_code == 400
    assert response.content == b'{"error": "validation_failed", "fields": {"body": "is not valid JSON"}}'


def test_brackets_inside_strings_are_not_nesting():
    assert loads(b'["' + b"[{" * 500 + b'"]') == ["[{" * 500]
    assert loads(b'"' + b"[" * 500 + b'"') == "[" * 500
