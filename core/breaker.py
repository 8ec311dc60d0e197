"""A per-process circuit breaker for the cache Redis (CACHE_URL).

A hung cache (it accepts connections and never answers) cost every call its own CACHE_TIMEOUT_SECONDS: each read
waited 2 s and each write about 6 s, request after request, in every process (found by a fault run). Once a call
to the cache times out or cannot connect, the breaker opens: for CACHE_BREAKER_SECONDS every further call in this
process fails at once with CacheUnavailable (a redis.RedisError), so each caller takes the fallback it already has
for a cache that raises (window_count and window_take fail open, the progress marker is skipped, the permission
cache asks Jira, the tenant cache reads the database). After that period one call (the probe) goes to Redis; its
answer closes the breaker, its failure opens it for another period. State changes are logged once and shown in
/metrics (herochecklist_cache_breaker_open, herochecklist_cache_failures_total).

It sits in the connections themselves (a connection class every cache client uses: core.counters.redis_client and
Django's cache through CACHES' pool_class), so no caller can forget it. While closed it costs one attribute test per
call and per reply read (a fraction of a microsecond against a round trip's 80 µs of CPU)."""

import logging
import os
import threading
import time
from typing import Any

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from .metrics import CACHE_BREAKER_OPEN, CACHE_FAILURES

logger = logging.getLogger(__name__)

# What says the cache is away: a timeout, a refused or dropped connection. Any other error (a wrong command, OOM)
# came with an answer, so the server is there.
_DOWN = (redis.ConnectionError, redis.TimeoutError, OSError)


class CacheUnavailable(redis.RedisError):
    """The breaker is open: the call was not sent. Not a ConnectionError on purpose: redis-py's retry policy retries
    those (with backoff sleeps), and there is nothing to retry until the period is over."""


def warn_unless_skipped(log: logging.Logger, exc: BaseException, message: str, **kwargs: Any) -> None:
    """A caller's warning that the cache failed it, unless the open breaker skipped the call: the breaker logged the
    outage once, and a warning per request would say it again on every one."""
    if not isinstance(exc, CacheUnavailable):
        log.warning(message, **kwargs)


class CacheBreaker:
    def __init__(self) -> None:
        # 0.0 while closed (the only thing the hot path reads); else the monotonic time until which calls fail fast.
        self.open_until = 0.0
        self._prober: int | None = None  # the thread whose call is the probe, once the period is over
        self._lock = threading.Lock()

    def check(self) -> None:
        """Before a call: raises CacheUnavailable while open, except for the one probe after each period."""
        if not self.open_until:
            return
        with self._lock:
            if not self.open_until:
                return
            me = threading.get_ident()
            if self._prober == me:
                return
            now = time.monotonic()
            if now < self.open_until:
                raise CacheUnavailable("cache breaker open")
            # The period is over: this call is the probe. The others keep failing fast until it is answered; a probe
            # that never reports (its thread died) is followed by another one period later.
            self._prober = me
            self.open_until = now + settings.CACHE_BREAKER_SECONDS

    def failed(self, exc: BaseException) -> None:
        CACHE_FAILURES.inc()
        seconds = settings.CACHE_BREAKER_SECONDS
        if seconds <= 0:
            return
        with self._lock:
            was_open = bool(self.open_until)
            self.open_until = time.monotonic() + seconds
            self._prober = None
        if not was_open:
            CACHE_BREAKER_OPEN.set(1)
            logger.warning(
                "cache breaker open: the cache Redis is skipped, each caller falls back",
                extra={"error": type(exc).__name__, "seconds": seconds},
            )

    def answered(self) -> None:
        """Redis answered (called only while open: the probe's answer, or a call already on its way)."""
        with self._lock:
            if not self.open_until:
                return
            self.open_until = 0.0
            self._prober = None
        CACHE_BREAKER_OPEN.set(0)
        logger.info("cache breaker closed: the cache Redis answers again")

    def reset(self) -> None:
        """Closed, quietly (tests; a change of CACHE_URL)."""
        with self._lock:
            self.open_until = 0.0
            self._prober = None
        CACHE_BREAKER_OPEN.set(0)


BREAKER = CacheBreaker()


def _after_fork_in_child() -> None:
    # A forked worker starts closed, with a lock of its own: its parent's may have been held by another thread.
    BREAKER._lock = threading.Lock()
    if BREAKER.open_until:
        BREAKER.open_until = 0.0
        CACHE_BREAKER_OPEN.set(0)
    BREAKER._prober = None


os.register_at_fork(after_in_child=_after_fork_in_child)


@receiver(setting_changed, dispatch_uid="cache-breaker-reset")
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # Another cache (or another period) starts closed: what the breaker knew was about the old one.
    if setting in ("CACHE_URL", "CACHE_BREAKER_SECONDS"):
        BREAKER.reset()


_guarded: dict[type, type] = {}


def guarded_connection_class(cls: type) -> type:
    """`cls` (a plain, TLS or Unix socket connection class) with the breaker in front: every connect and every reply
    goes through it. The check is in connect, not in each command: every call connects first (the pool's checkout,
    _set_nx's _ready, the listener's subscription; a no-op for a connection already open), and so does redis-py's
    own retry after a timeout. The base methods are bound here rather than reached through super(): the hot path
    pays one test of open_until and one extra frame per connect and per reply (a fraction of a microsecond)."""
    if getattr(cls, "_breaker_guarded", False):
        return cls
    if cls in _guarded:
        return _guarded[cls]
    base_connect = cls.connect_check_health
    base_read = cls.read_response

    # Its signature spelled out: connect() passes keywords, and forwarding them through **kwargs cost more than all
    # the rest of this (a test would catch a change of redis-py's signature: every call would fail).
    def connect_check_health(self: Any, check_health: bool = True, retry_socket_connect: bool = True) -> None:
        if BREAKER.open_until:
            BREAKER.check()
        try:
            base_connect(self, check_health, retry_socket_connect)
        except _DOWN as exc:
            BREAKER.failed(exc)
            raise

    def read_response(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            response = base_read(self, *args, **kwargs)
        except _DOWN as exc:
            BREAKER.failed(exc)
            raise
        except redis.RedisError:  # an error reply is an answer
            if BREAKER.open_until:
                BREAKER.answered()
            raise
        if BREAKER.open_until:
            BREAKER.answered()
        return response

    _guarded[cls] = type(
        f"Guarded{cls.__name__}",
        (cls,),
        {"_breaker_guarded": True, "connect_check_health": connect_check_health, "read_response": read_response},
    )
    return _guarded[cls]


class GuardedConnectionPool(redis.ConnectionPool):
    """A connection pool whose connections go through the breaker (CACHES' pool_class, and redis_client's)."""

    def __init__(self, *args: Any, connection_class: type = redis.Connection, **kwargs: Any) -> None:
        super().__init__(*args, connection_class=guarded_connection_class(connection_class), **kwargs)
