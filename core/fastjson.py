"""The API's JSON encoder: orjson (C, one pass straight to bytes) instead of json.dumps with ninja's encoder class.

Only what orjson does not write the way Django does goes through ninja's encoder: datetimes (Django writes
milliseconds and "Z") and types orjson does not know. Anything orjson refuses (an integer beyond 64 bits) falls back
to json.dumps whole, so no answer can fail for the encoder's sake."""

import json

import orjson
from ninja.renderers import BaseRenderer
from ninja.responses import NinjaJSONEncoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


class Encoded:
    """A value already encoded as JSON (a checklist's items, kept per version), written into an answer as it is."""

    __slots__ = ("contents",)

    def __init__(self, contents: bytes) -> None:
        self.contents = contents


class _FallbackEncoder(NinjaJSONEncoder):
    def default(self, o):
        if isinstance(o, Encoded):
            return orjson.loads(o.contents)
        return super().default(o)


_fallback = _FallbackEncoder()


def _default(o):
    return orjson.Fragment(o.contents) if isinstance(o, Encoded) else _fallback.default(o)


def dumps(data) -> bytes:
    try:
        return orjson.dumps(data, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(data, cls=_FallbackEncoder).encode()


class OrjsonRenderer(BaseRenderer):
    media_type = "application/json"

    def render(self, request, data, *, response_status: int) -> bytes:
        return dumps(data)
