"""
A local HubSpot for tests and benchmarks: contacts batch upsert by email and list membership, recording every
call, enforcing the account's rolling-window rate limit, and misbehaving on request (429 with and without
Retry-After, 500, slow answers, 400 for a bad email).
"""

import contextlib
import random
import re
import threading
import time
from dataclasses import dataclass, field

from .http import JSONHandler, StandInServer

_VALID_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


@dataclass
class Call:
    method: str
    path: str
    body: object
    status: int
    at: float = field(default_factory=time.monotonic)


class HubSpotStandIn(StandInServer):
    def __init__(self, port: int = 0, *, token: str = "hubspot-test-token", limit: int = 100, window: float = 10.0):
        super().__init__(port, _Handler)
        self.token = token
        self.limit = limit
        self.window = window
        self.calls: list[Call] = []
        self.contacts: dict[str, dict] = {}  # email -> {"id", "properties"}
        self.created: dict[str, int] = {}  # email -> how many times it was created (must stay 1)
        self.lists: dict[str, set[str]] = {}
        self.transient_rate = 0.0  # share of calls answered with a transient failure
        self.slow_seconds = 5.0  # how long a "slow" answer takes
        self.slow_upserts = 0  # upserts still to answer only after slow_seconds (done all the same, as HubSpot would)
        self.failing_list_adds = 0  # list additions still to answer with a 503
        self.html_answers = 0  # upserts still to answer with an HTML page and a 200, as a misbehaving proxy might
        self.poison: set[str] = set()  # emails whose batch HubSpot answers with a 500, every time
        self.crafted: list = []  # JSON answered (with a 200) to the next upserts instead, one each: odd shapes
        self.rate_limited_next = 0  # calls still to answer with a 429 carrying the Retry-After below
        self.retry_after = "10"
        self.random = random.Random(7)
        self._ids = iter(range(1_000_001, 10_000_000))
        self._arrivals: list[float] = []
        self._id_lock = threading.Lock()

    def max_calls_in_any_window(self) -> int:
        times = sorted(c.at for c in self.calls)
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= self.window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def _over_limit(self, now: float) -> bool:
        with self.lock:
            self._arrivals = [t for t in self._arrivals if t > now - self.window]
            self._arrivals.append(now)
            return len(self._arrivals) > self.limit

    def _next_id(self) -> str:
        with self._id_lock:
            return str(next(self._ids))


class _Handler(JSONHandler):
    server: HubSpotStandIn

    arrived: float | None = None

    def _record(self, status: int, body) -> None:
        # A call counts when it arrived, as HubSpot counts it (a slow answer is recorded later).
        at = self.arrived if self.arrived is not None else time.monotonic()
        with self.server.lock:
            self.server.calls.append(Call(self.command, self.path, body, status, at))

    def _guard(self, body) -> int | None:
        """Auth, the rate limit, then injected trouble. Returns the status it answered with, if it did."""
        self.arrived = time.monotonic()
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            self._record(401, body)
            self._json(401, {"status": "error", "message": "Authentication credentials not found."})
            return 401
        if self.server._over_limit(self.arrived):
            self._record(429, body)
            self._json(
                429,
                {
                    "status": "error",
                    "errorType": "RATE_LIMIT",
                    "policyName": "TEN_SECONDLY_ROLLING",
                    "message": "You have reached your ten_secondly_rolling limit.",
                },
            )
            return 429
        if self.server.rate_limited_next > 0:
            with self.server.lock:
                self.server.rate_limited_next -= 1
            self._record(429, body)
            self._json(
                429, {"status": "error", "message": "injected 429"}, headers={"Retry-After": self.server.retry_after}
            )
            return 429
        if self.server.transient_rate and self.server.random.random() < self.server.transient_rate:
            trouble = self.server.random.choice(["500", "429-retry-after", "429", "slow"])
            if trouble == "slow":
                time.sleep(self.server.slow_seconds)
                # The client has given up by now; what we answer no longer matters.
            status = 500 if trouble in ("500", "slow") else 429
            headers = {"Retry-After": "1"} if trouble == "429-retry-after" else None
            self._record(status, body)
            with contextlib.suppress(OSError):  # a "slow" answer's client has hung up already
                self._json(status, {"status": "error", "message": f"injected {trouble}"}, headers=headers)
            return status
        return None

    def do_POST(self):
        _raw, body = self._body()
        if self.path != "/crm/v3/objects/contacts/batch/upsert":
            return self._json(404, {"status": "error", "message": "unknown path"})
        if self._guard(body):
            return
        if self.server.slow_upserts > 0:
            with self.server.lock:
                self.server.slow_upserts -= 1
            time.sleep(self.server.slow_seconds)  # the client has given up by now; the upsert happens all the same
        if self.server.crafted:
            answer = self.server.crafted.pop(0)
            self._record(200, body)
            return self._json(200, answer)
        if self.server.html_answers > 0:  # a proxy's error page, with a 200
            self.server.html_answers -= 1
            self._record(200, body)
            return self._send(200, b"<html><body>Service temporarily unavailable</body></html>", "text/html")
        inputs = (body or {}).get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= 100:
            self._record(400, body)
            return self._json(400, {"status": "error", "message": "inputs must hold 1 to 100 contacts"})
        if any(str(i.get("id", "")).lower() in self.server.poison for i in inputs if isinstance(i, dict)):
            self._record(500, body)
            return self._json(500, {"status": "error", "message": "internal error"})
        bad = [i.get("id") for i in inputs if not _VALID_EMAIL.match(str(i.get("id", "")))]
        if bad:
            # Like HubSpot: one invalid email refuses the whole batch.
            self._record(400, body)
            return self._json(
                400,
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": f"Property values were not valid: INVALID_EMAIL {bad[0]}",
                },
            )
        results = []
        now = "2026-11-29T00:00:00.000Z"
        with self.server.lock:
            for item in inputs:
                email = str(item["id"]).lower()
                existing = self.server.contacts.get(email)
                if existing is None:
                    existing = {"id": self.server._next_id(), "properties": {}}
                    self.server.contacts[email] = existing
                    self.server.created[email] = self.server.created.get(email, 0) + 1
                existing["properties"].update(item.get("properties") or {})
                results.append(
                    {
                        "id": existing["id"],
                        "properties": {"email": email},
                        "createdAt": now,
                        "updatedAt": now,
                        "archived": False,
                        "new": False,
                    }
                )
        self._record(200, body)
        self._json(200, {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now})

    def do_PUT(self):
        _raw, body = self._body()
        match = re.match(r"^/crm/v3/lists/([^/]+)/memberships/add$", self.path)
        if not match:
            return self._json(404, {"status": "error", "message": "unknown path"})
        if self._guard(body):
            return
        if self.server.failing_list_adds > 0:
            self.server.failing_list_adds -= 1
            self._record(503, body)
            return self._json(503, {"status": "error", "message": "injected list outage"})
        known = {c["id"] for c in self.server.contacts.values()}
        ids = [str(i) for i in body or []]
        with self.server.lock:
            self.server.lists.setdefault(match.group(1), set()).update(i for i in ids if i in known)
        self._record(200, body)
        self._json(
            200,
            {"recordIdsAdded": [i for i in ids if i in known], "recordIdsMissing": [i for i in ids if i not in known]},
        )
