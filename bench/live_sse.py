"""The alternative bench/live.py measures live updates against: server-sent events through the same WSGI stack.
The app's WSGI application, plus `/bench/sse?issue=<id>`: a stream that checks the checklist's version every
CHECK_SECONDS with the same one-row query a 304 costs (a WSGI worker has no event loop to be woken by, so the
stream has to look), sends an event when it changes and a comment line every 15 s to keep proxies from closing it.
Bench only: never served by the app."""

import os
import time

import bench.django_setup  # noqa: F401 (configures Django before our apps are imported)
from checklists.models import Checklist
from core.db import one
from herochecklist.wsgi import application as app

CHECK_SECONDS = float(os.environ.get("BENCH_SSE_CHECK_SECONDS", "0.5"))
PING_SECONDS = 15.0


def _stream(issue_id: str):

    last, pinged = None, time.monotonic()
    while True:
        version = one(Checklist.objects.filter(issue_id=issue_id).values_list("version", flat=True))
        if version != last:
            last = version
            yield f"event: version\ndata: {version}\n\n".encode()
        elif time.monotonic() - pinged > PING_SECONDS:
            pinged = time.monotonic()
            yield b": ping\n\n"
        time.sleep(CHECK_SECONDS)


def application(environ, start_response):
    if environ.get("PATH_INFO") != "/bench/sse":
        return app(environ, start_response)
    issue_id = environ.get("QUERY_STRING", "").removeprefix("issue=") or "10001"
    start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-store")])
    return _stream(issue_id)
