"""Counters shared by every process: a Redis client per URL, and a fixed-window counter in one round trip."""

import logging
import threading

import redis
from django.conf import settings
from django.core.cache import cache

from .metrics import RATE_LIMIT_FAIL_OPEN

logger = logging.getLogger(__name__)

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def redis_client(url: str) -> redis.Redis:
    """One client (and connection pool) per URL and process."""
    with _clients_lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(
                url,
                socket_timeout=settings.CACHE_TIMEOUT_SECONDS,
                socket_connect_timeout=settings.CACHE_TIMEOUT_SECONDS,
            )
        return _clients[url]


def window_count(key: str, *, ttl_seconds: int) -> int | None:
    """Adds one to the counter `key` and returns its new value; the counter goes away ttl_seconds after its first
    hit. With a shared cache (CACHE_URL) this is one pipelined round trip to Redis; Django's cache API needs three
    (add, then incr's exists and incr), which on a loopback cost more than the rest of a checklist read.

    None when the cache is unreachable: a limit that cannot be counted is not enforced (fails open), so a cache
    outage slows nobody down and takes no request with it. Logged and counted in /metrics."""
    try:
        if settings.CACHE_URL:
            pipe = redis_client(settings.CACHE_URL).pipeline(transaction=False)
            pipe.set(f"herochecklist:{key}", 0, ex=ttl_seconds, nx=True)
            pipe.incr(f"herochecklist:{key}")
            return int(pipe.execute()[1])
        cache.add(key, 0, timeout=ttl_seconds)
        try:
            return cache.incr(key)
        except ValueError:  # evicted between add and incr: count this as the first
            cache.set(key, 1, timeout=ttl_seconds)
            return 1
    except redis.RedisError as exc:
        RATE_LIMIT_FAIL_OPEN.inc()
        logger.warning("counter unavailable, limit not enforced", extra={"error": type(exc).__name__})
        return None
