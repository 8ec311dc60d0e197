"""The API's JSON encoder: orjson (C, one pass straight to bytes) instead of json.dumps with ninja's encoder class.

Only what orjson does not write the way Django does goes through ninja's encoder: datetimes (Django writes
milliseconds and "Z") and types orjson does not know. Anything orjson refuses (an integer beyond 64 bits) falls back
to json.dumps whole, so no answer can fail for the encoder's sake."""

import json

import orjson
from ninja.renderers import BaseRenderer
from ninja.responses import NinjaJSONEncoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
_fallback = NinjaJSONEncoder()


def dumps(data) -> bytes:
    try:
        return orjson.dumps(data, default=_fallback.default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(data, cls=NinjaJSONEncoder).encode()


class OrjsonRenderer(BaseRenderer):
    media_type = "application/json"

    def render(self, request, data, *, response_status: int) -> bytes:
        return dumps(data)
