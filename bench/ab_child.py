"""bench/ab's measuring process (bench/inproc.measure_env starts it with the stack's environment): the variants of
the read, each in process, in alternating rounds. See bench/ab.py."""

import json
import sys
import time

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings

import bench.django_setup  # noqa: F401 (configures Django before our apps are imported)
import checklists.api as api_module
from bench.ab import VARIANTS
from bench.inproc import _environ
from core import counters
from core.fastjson import OrjsonRenderer
from tenants import permissions
from tenants.auth import tokens

# Before the edge: every middleware on every path, the admin's inline (today's lists, so the two stay in step).
BEFORE_MIDDLEWARE = [
    m for m in settings.MIDDLEWARE if m != "core.edge.AdminStackMiddleware"
] + settings.ADMIN_MIDDLEWARE


def _child(spec: dict) -> None:
    from ninja.renderers import JSONRenderer  # ninja reads Django's settings when imported: after django_setup

    edge = WSGIHandler()
    with override_settings(MIDDLEWARE=BEFORE_MIDDLEWARE):
        whole = WSGIHandler()

    cached = (tokens._read_header, tokens._read_claims)
    uncached = (tokens._read_header.__wrapped__, tokens._read_claims.__wrapped__)
    memo = permissions._seen

    class NoMemo(dict):
        def __setitem__(self, key, value):
            pass

    def counted(key, *, limit, ttl_seconds):  # the limit before: one round trip per call
        count = counters.window_count(key, ttl_seconds=ttl_seconds)
        return count is None or count <= limit

    take = api_module.window_take

    def apply(variant: str):
        level = VARIANTS.index(variant)
        tokens._read_header, tokens._read_claims = cached if level >= 2 else uncached
        api_module.api.renderer = OrjsonRenderer() if level >= 3 else JSONRenderer()
        api_module.window_take = take if level >= 4 else counted
        permissions._seen = memo if level >= 5 else NoMemo()
        return edge if level >= 1 else whole

    def call(handler) -> None:
        statuses = []
        environ = _environ("GET", spec["url"], spec["headers"], b"")
        b"".join(handler(environ, lambda status, headers, exc_info=None: statuses.append(status)))
        if not statuses[0].startswith("200"):
            raise SystemExit(f"answered {statuses[0]}")

    best = dict.fromkeys(VARIANTS, float("inf"))
    for variant in VARIANTS:
        handler = apply(variant)
        for _ in range(40):
            call(handler)
    for _ in range(spec["rounds"]):
        for variant in VARIANTS:
            handler = apply(variant)
            started = time.process_time()
            for _ in range(spec["n"]):
                call(handler)
            best[variant] = min(best[variant], (time.process_time() - started) / spec["n"] * 1e6)
    print(json.dumps(best))


if __name__ == "__main__":
    _child(json.loads(sys.stdin.read()))
