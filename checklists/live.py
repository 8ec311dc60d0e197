"""
Live updates for open panels: conditional polling of the checklist read. A panel that is visible asks once a second
with `If-None-Match: "<version>"`; while nothing changed the answer is 304 with no body, after one indexed lookup of
the version (no items, no permission question). Chosen over server-sent events by measurement (bench/live.py,
bench/RESULTS.md): an event stream holds a WSGI worker (or thread) for as long as a panel is open.

Conditional reads are counted in their own per-user budget (API_POLL_RATE_PER_MINUTE), so an open panel never eats
the budget its user's writes and reads share.
"""

import time

from django.conf import settings
from django.http import HttpResponse
from ninja.throttling import BaseThrottle

from core.counters import window_count
from core.db import one
from tenants.models import Tenant
from tenants.types import IssueRef

from .callers import rate_subject
from .models import Checklist


def _tags(header: str) -> set[str]:
    # Weak comparison (RFC 9110 13.1.2): W/"7" matches "7" (gzipped answers of older servers were weak).
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def private(response: HttpResponse) -> HttpResponse:
    """The read is per user (it carries their permissions) and answers If-None-Match: a browser must not store it.
    A stored copy would be revalidated by the browser itself, our 304 would then hand one user's copy to whoever
    opens the same URL next in that browser (seen: a read-only user's panel shown to an editor)."""
    response["Cache-Control"] = "private, no-store"
    return response


def not_modified(request, tenant: Tenant, issue: IssueRef) -> HttpResponse | None:
    """304 when If-None-Match names the checklist's current version; None when the full read must answer (no
    condition, a changed version, or no checklist yet: opening one may apply a template)."""
    header = request.headers.get("If-None-Match")
    if not header:
        return None
    version = one(Checklist.objects.filter(tenant=tenant, issue_id=issue.id).values_list("version", flat=True))
    if version is None:
        return None
    etag = f'"{version}"'
    tags = _tags(header)
    if etag not in tags and "*" not in tags:
        return None
    response = HttpResponse(status=304)
    response["ETag"] = etag
    return private(response)


class PollAwareThrottle(BaseThrottle):
    """The API's throttle for the checklist read: a conditional read (If-None-Match) counts against the poll budget,
    any other read against the shared one (`default`)."""

    def __init__(self, default: BaseThrottle):
        self.default = default
        self.reset_in = 60.0

    def allow_request(self, request) -> bool:
        if "If-None-Match" not in request.headers:
            allowed = self.default.allow_request(request)
            self.reset_in = self.default.wait() or 60.0
            return allowed
        auth = request.auth
        minute = int(time.time() // 60)
        count = window_count(f"poll:{auth.tenant.id}:{rate_subject(request, auth)}:{minute}", ttl_seconds=120)
        self.reset_in = 60 - time.time() % 60
        return count is None or count <= settings.API_POLL_RATE_PER_MINUTE  # None: cache down, fail open

    def wait(self) -> float:
        return self.reset_in
