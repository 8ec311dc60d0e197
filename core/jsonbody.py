"""The one JSON parser for request bodies (and other JSON from outside): every door that reads JSON reads it here.

Anything that is not a JSON text in UTF-8 raises BadJson, a ValidationFailed naming `body` (status 400), whatever was
wrong with it: bytes that are not UTF-8, text that is not JSON, NaN or Infinity (JSON has neither), a number too large
for a float, or nesting deeper than MAX_DEPTH. The reason is the same for all of them, so an error never echoes what
was sent. Nesting thousands deep raises RecursionError inside the standard library's decoder; that is caught here
too, so no door can answer 500 for it.

The standard library's decoder rather than orjson (core/fastjson.py encodes): orjson reads an integer beyond 64 bits
as a float and refuses an escaped lone surrogate outright, where the field checks behind each door name the field.
"""

import json
import math
from typing import Any

from django.http import JsonResponse

from .exceptions import ValidationFailed

MAX_DEPTH = 100
REASON = "is not valid JSON"
_BOM = b"\xef\xbb\xbf"


class BadJson(ValidationFailed):
    """A body that is not JSON (or nests deeper than MAX_DEPTH): 400, naming `body`."""

    def __init__(self) -> None:
        super().__init__({"body": REASON}, status=400)


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: the decoder would make it Infinity
        raise ValueError("number out of range")
    return value


_decoder = json.JSONDecoder(parse_constant=_constant, parse_float=_float)


def _too_deep(value: Any) -> bool:
    """Whether containers nest deeper than MAX_DEPTH: one level at a time (iterative, so a deep value cannot exhaust
    the stack here; a comprehension per level, so a megabyte of small containers costs tens of milliseconds more,
    not hundreds)."""
    level = [value]
    for _ in range(MAX_DEPTH):
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) is dict or type(child) is list  # the decoder makes exactly these
        ]
        if not level:
            return False
    return True


def loads(data: bytes | str) -> Any:
    """The value of a JSON text (bytes in UTF-8, a leading byte order mark allowed), or BadJson."""
    try:
        # Not decode("utf-8-sig"): that codec is Python code, and cost a small PATCH body more than the parse did.
        text = (data[3:] if data.startswith(_BOM) else data).decode() if isinstance(data, bytes | bytearray) else data
        value = _decoder.decode(text)
    except (ValueError, TypeError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadJson() from None
    # Nesting deeper than the limit takes more than 2 * MAX_DEPTH characters and more than MAX_DEPTH opening
    # brackets: most bodies skip the walk, the smallest without even counting.
    if (
        len(text) > 2 * MAX_DEPTH
        and text.count("[") + text.count("{") > MAX_DEPTH
        and isinstance(value, dict | list)  # not a string that holds brackets
        and _too_deep(value)
    ):
        raise BadJson()
    return value


def request_json(request, empty: Any = None) -> Any:
    """The request's JSON body, or `empty` when there is no body at all; BadJson when it is not JSON."""
    body = request.body
    return loads(body) if body else empty


def bad_json_response() -> JsonResponse:
    """The answer of a door outside /api/v1 to a body that is not JSON (the API's own error shape)."""
    return JsonResponse(BadJson().body(), status=400)
