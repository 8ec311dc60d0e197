"""
One rate limit shared by every worker: at most LIMIT calls in any rolling WINDOW, kept in Redis.

A sliding log (a sorted set of call times) rather than a token bucket: a bucket that refills continuously can
let nearly twice its size through within one rolling window, and HubSpot counts rolling windows.
"""

import threading
import time
import uuid

import redis
from django.conf import settings

from core.counters import redis_client

_SCRIPT = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return blocked + 1 end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, math.ceil(window))
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]
return math.ceil(oldest + window - now) + 1
"""


class RateLimitTimeout(Exception):
    """No slot came free within the time the caller was willing to wait."""


class _LocalLog:
    """The same algorithm in process memory, for eager mode (no Redis configured): one process, one log."""

    def __init__(self):
        self.calls: dict[str, list[float]] = {}
        self.blocked_until: dict[str, float] = {}
        self.lock = threading.Lock()

    def try_acquire(self, key: str, now_ms: float, window_ms: float, limit: int) -> float:
        with self.lock:
            blocked = self.blocked_until.get(key, 0) - now_ms
            if blocked > 0:
                return blocked + 1
            log = [t for t in self.calls.get(key, []) if t > now_ms - window_ms]
            if len(log) < limit:
                log.append(now_ms)
                self.calls[key] = log
                return 0
            self.calls[key] = log
            return log[0] + window_ms - now_ms + 1


_local = _LocalLog()


def _redis() -> redis.Redis | None:
    url = settings.RATE_LIMIT_REDIS_URL
    return redis_client(url) if url else None


def acquire(name: str, *, limit: int, window_seconds: float, max_wait_seconds: float) -> None:
    """Block until a call is allowed under the limit, or raise RateLimitTimeout."""
    key = f"ratelimit:{name}"
    window_ms = window_seconds * 1000
    deadline = time.monotonic() + max_wait_seconds
    client = _redis()
    script = client.register_script(_SCRIPT) if client else None
    while True:
        now_ms = time.time() * 1000
        if script:
            wait_ms = int(
                script(keys=[key, f"{key}:blocked"], args=[now_ms, window_ms, limit, f"{now_ms}:{uuid.uuid4().hex}"])
            )
        else:
            wait_ms = _local.try_acquire(key, now_ms, window_ms, limit)
        if wait_ms <= 0:
            return
        if time.monotonic() + wait_ms / 1000 > deadline:
            raise RateLimitTimeout(f"{name}: no slot within {max_wait_seconds}s")
        time.sleep(wait_ms / 1000)


def penalise(name: str, *, seconds: float) -> None:
    """After a 429: no worker calls again for `seconds` (HubSpot's Retry-After, or a whole window)."""
    key = f"ratelimit:{name}"
    client = _redis()
    if client:
        client.set(f"{key}:blocked", 1, px=max(1, int(seconds * 1000)))
    else:
        with _local.lock:
            _local.blocked_until[key] = time.time() * 1000 + seconds * 1000
