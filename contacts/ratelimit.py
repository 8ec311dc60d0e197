"""
One rate limit shared by every worker: at most LIMIT calls in any rolling WINDOW, as the API counts them, kept in Redis.

A sliding log (a sorted set of calls) rather than a token bucket: a bucket that refills continuously can let nearly
twice its size through within one rolling window, and HubSpot counts rolling windows.

HubSpot counts a call when it arrives, which we never see: only that it arrived after we sent it and before its answer
came back. So each call is logged at the latest moment it can have arrived: while it is in flight, its send time plus
the longest it may take (the caller's timeout); once answered, the moment of the answer. A call leaves the log one
window after that. Whatever the network does, a call logged as gone cannot share a window with the next one at
HubSpot, so the whole limit can be used (no safety margin in the count), and the cost is one round trip per window.
"""

import contextlib
import threading
import time
import uuid

import redis
from django.conf import settings

from core.counters import redis_client

# Every time is Redis's own clock (TIME), so workers whose clocks disagree still share one log.
_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)"
# KEYS: the log, the block flag. ARGV: window, limit, member, longest flight (all ms).
_ACQUIRE = (
    _NOW
    + """
local key, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return blocked + 1 end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  local flight = tonumber(ARGV[4])
  redis.call('ZADD', key, now + flight, ARGV[3])
  if redis.call('PTTL', key) < flight + window then redis.call('PEXPIRE', key, math.ceil(flight + window)) end
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]
return math.ceil(oldest + window - now) + 1
"""
)
# The answer came: the call arrived by now at the latest, and counts until a window from now (later than its send +
# flight too, should it have taken longer than that). ARGV: member, window (ms).
_ANSWERED = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now, ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
)


class RateLimitTimeout(Exception):
    """No slot came free within the time the caller was willing to wait."""


class _LocalLog:
    """The same algorithm in process memory, for eager mode (no Redis configured): one process, one log."""

    def __init__(self):
        self.calls: dict[str, dict[str, float]] = {}
        self.blocked_until: dict[str, float] = {}
        self.lock = threading.Lock()

    def try_acquire(self, key: str, now_ms: float, window_ms: float, limit: int, member: str, until_ms: float) -> float:
        with self.lock:
            blocked = self.blocked_until.get(key, 0) - now_ms
            if blocked > 0:
                return blocked + 1
            log = {m: t for m, t in self.calls.get(key, {}).items() if t > now_ms - window_ms}
            self.calls[key] = log
            if len(log) < limit:
                log[member] = until_ms
                return 0
            return min(log.values()) + window_ms - now_ms + 1

    def answered(self, key: str, member: str, now_ms: float) -> None:
        with self.lock:
            self.calls.setdefault(key, {})[member] = now_ms


_local = _LocalLog()


def _redis() -> redis.Redis | None:
    url = settings.RATE_LIMIT_REDIS_URL
    return redis_client(url) if url else None


def acquire(name: str, *, limit: int, window_seconds: float, max_wait_seconds: float, flight_seconds: float) -> str:
    """Block until a call is allowed under the limit, or raise RateLimitTimeout. Returns the call's place in the log:
    hand it to answered() when the answer (or the caller's timeout) comes. flight_seconds: the longest the call can
    take before it reaches the API (the caller's timeout, with room to spare; its client must not retry on its own).
    Raises redis.RedisError when the shared log cannot be reached: no call goes out uncounted."""
    key = f"ratelimit:{name}"
    window_ms = window_seconds * 1000
    flight_ms = flight_seconds * 1000
    deadline = time.monotonic() + max_wait_seconds
    client = _redis()
    script = client.register_script(_ACQUIRE) if client else None
    while True:
        member = uuid.uuid4().hex
        if script:
            wait_ms = int(script(keys=[key, f"{key}:blocked"], args=[window_ms, limit, member, flight_ms]))
        else:
            now_ms = time.time() * 1000
            wait_ms = _local.try_acquire(key, now_ms, window_ms, limit, member, now_ms + flight_ms)
        if wait_ms <= 0:
            return member
        if time.monotonic() + wait_ms / 1000 > deadline:
            raise RateLimitTimeout(f"{name}: no slot within {max_wait_seconds}s")
        time.sleep(wait_ms / 1000)


def answered(name: str, member: str, *, window_seconds: float) -> None:
    """The call's answer came (or it failed): it reached the API by now, so its slot ends a window from now. Best
    effort: if Redis fails here, the slot is held until its longest flight and a window are over, which is sooner
    only if the call took longer than that (its client's timeout forbids it)."""
    key = f"ratelimit:{name}"
    client = _redis()
    if client is None:
        _local.answered(key, member, time.time() * 1000)
        return
    with contextlib.suppress(redis.RedisError):
        client.eval(_ANSWERED, 1, key, member, int(window_seconds * 1000))


def penalise(name: str, *, seconds: float) -> None:
    """After a 429: no worker calls again for `seconds` (HubSpot's Retry-After, or a whole window)."""
    key = f"ratelimit:{name}"
    client = _redis()
    if client:
        # Best effort: without the block, the log still keeps the calls under the limit.
        with contextlib.suppress(redis.RedisError):
            client.set(f"{key}:blocked", 1, px=max(1, int(seconds * 1000)))
    else:
        with _local.lock:
            _local.blocked_until[key] = time.time() * 1000 + seconds * 1000
