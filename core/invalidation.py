"""
A per-process TTLCache whose forgets reach every process at once, through a pub/sub channel of the cache Redis
(CACHE_URL), at no cost to a read: a hit asks Redis nothing (a round trip costs what the query it saves does).

Writers call forget_everywhere(keys): this process forgets them now, and once the transaction commits every process
does, this one again included (a reader may have kept the old row in between). Each process hears the channel on one
daemon thread of its own, started by the first read and again in a forked child (web servers and Celery fork after
importing the app): it drops the keys each message names.

Fails closed. A message published while a process was not subscribed never reaches it, so the cache serves only
entries loaded under its current subscription (core.ttlcache's generations): until the listener has subscribed (the
first reads, a forked child's first reads), and from the moment it loses Redis (down, restarted, the connection
dropped or silent for HEARTBEAT_SECONDS plus CACHE_TIMEOUT_SECONDS) until it has subscribed again, every read loads
from the database and nothing is kept. A publish that fails (Redis down) does not fail the write: it is logged, and
the other processes, which cannot hear Redis either, are reading the database meanwhile. What remains is a process
whose own link to Redis fails while the others' stands: its publish is lost, and the others drop that entry when it
expires (the cache's seconds stay a backstop for that).

Without CACHE_URL (development, one process) there is no channel: entries are kept for the cache's seconds.
"""

import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from .counters import redis_client
from .db import on_commit
from .ttlcache import TTLCache

logger = logging.getLogger(__name__)

V = TypeVar("V")
Key = tuple[str, ...]  # a message names keys as JSON arrays of strings

# The listener pings Redis after this long without a word from it: a connection that died without a reset (a network
# partition, a hung server) is found within this plus CACHE_TIMEOUT_SECONDS, and the cache bypassed from then on.
HEARTBEAT_SECONDS = 1.0
MAX_RETRY_PAUSE = 2.0  # between two tries to subscribe again while Redis is away

_instances: "weakref.WeakSet[InvalidatedCache]" = weakref.WeakSet()


def _channel(name: str, url: str) -> str:
    # Pub/sub channels are server-wide, not per database: the database's number keeps apart two deployments (or two
    # test workers) that share a server, each in its own database.
    db = redis_client(url).connection_pool.connection_kwargs.get("db", 0)
    return f"herochecklist:{db}:forget:{name}"


class InvalidatedCache(Generic[V]):
    def __init__(self, name: str, seconds: Callable[[], float], *, max_entries: int) -> None:
        self.name = name
        self._cache: TTLCache[V] = TTLCache(seconds, max_entries=max_entries)
        self._url: str | None = None  # the CACHE_URL this process follows (None: not decided yet, as after a fork)
        # Whether _url is settled: read on every request instead of CACHE_URL itself, as a Django setting costs a
        # lookup through LazySettings (a third of a microsecond, as much as the rest of a hit). Cleared by a fork and
        # by a change of CACHE_URL (the setting_changed signal that override_settings and tests send).
        self._following = False
        self._listener: _Listener | None = None
        self._lock = threading.Lock()
        _instances.add(self)

    def get(self, key: Key, load: Callable[[], V | None], *, fresh: bool = False) -> V | None:
        if not self._following:  # the first read, or the first after a fork or a change of CACHE_URL
            self._follow()
        return self._cache.get(key, load, fresh=fresh)

    def forget_everywhere(self, keys: Iterable[Key]) -> None:
        """This process forgets the keys now and when the surrounding transaction commits; every other process as
        soon as that commit's message reaches it."""
        keys = set(keys)
        self._cache.forget(keys)

        def forget() -> None:
            self._cache.forget(keys)
            self._publish(keys)

        on_commit(forget)

    def clear(self) -> None:
        """This process forgets everything (tests: each one's database starts over)."""
        self._cache.clear()

    def _publish(self, keys: set[Key]) -> None:
        url = settings.CACHE_URL
        if not url or not keys:
            return
        try:
            redis_client(url).publish(_channel(self.name, url), json.dumps(sorted(list(key) for key in keys)))
        except redis.RedisError as exc:
            # The keys name sites (client keys, installation ids): not logged, only how many.
            logger.warning(
                "cache invalidation not published: other processes keep these rows until they expire",
                extra={"cache": self.name, "keys": len(keys), "error": type(exc).__name__},
            )

    def _follow(self) -> None:
        with self._lock:
            self._following = True  # first: a change of CACHE_URL from now on clears it again
            url = settings.CACHE_URL
            if self._url == url:
                return
            if self._listener is not None:
                self._listener.stop()
                self._listener = None
            if url:
                self._cache.suspend()  # until the listener has subscribed
                self._listener = _Listener(self, url)
                self._listener.start()
            else:
                self._cache.resume()
            self._url = url

    def _heard(self, listener: "_Listener") -> None:
        with self._lock:
            if listener is self._listener:
                self._cache.resume()

    def _deaf(self, listener: "_Listener") -> None:
        with self._lock:
            if listener is self._listener:
                self._cache.suspend()

    def _forget_message(self, data: bytes) -> None:
        try:
            keys = [tuple(str(part) for part in key) for key in json.loads(data)]
        except (ValueError, TypeError):
            self._cache.clear()  # a message we cannot read may have named anything
            return
        self._cache.forget(keys)

    def _after_fork_in_child(self) -> None:
        # The parent's listener thread does not exist here, and its subscription is the parent's: this process hears
        # nothing until its own listener subscribes, which its first read starts.
        self._lock = threading.Lock()
        self._listener = None
        self._url = None
        self._following = False
        self._cache.suspend()


class _Listener:
    """One subscription to the channel, kept by a daemon thread until stop(): it subscribes, tells the cache to serve
    again, drops the keys of each message, pings when Redis has been quiet, and on any failure tells the cache to
    stop serving and subscribes anew."""

    def __init__(self, owner: InvalidatedCache, url: str) -> None:
        self.owner = owner
        self.url = url
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"invalidation-{owner.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _current(self) -> bool:
        return not self._stopped.is_set() and self.owner._listener is self

    def _run(self) -> None:
        pause = 0.05
        lost = False
        while self._current() and self.url == settings.CACHE_URL:
            try:
                conn = None
                try:
                    conn = self._subscribe()
                    self.owner._heard(self)
                    if lost:
                        logger.info("cache invalidations heard again", extra={"cache": self.owner.name})
                    lost, pause = False, 0.05
                    self._listen(conn)
                finally:
                    # First, whatever ended the subscription: nothing kept may be served once it is not heard.
                    self.owner._deaf(self)
                    if conn is not None:
                        conn.disconnect()
            except Exception as exc:  # whatever it was: logged once per outage, and subscribed again
                if not lost and self._current():
                    logger.warning(
                        "cache invalidations not heard: reading from the database until Redis is back",
                        extra={"cache": self.owner.name, "error": type(exc).__name__},
                    )
                lost = True
            self._stopped.wait(pause)
            pause = min(pause * 2, MAX_RETRY_PAUSE)
        self.owner._deaf(self)
        if self._current():  # CACHE_URL changed under it: the next read follows the new one
            self.owner._following = False

    def _subscribe(self) -> Any:
        # A connection of our own, not redis-py's PubSub: that one reconnects and subscribes again by itself after a
        # failure, and the messages of the gap would be lost without the cache knowing it.
        pool = redis_client(self.url).connection_pool
        conn = pool.connection_class(**pool.connection_kwargs)
        conn.connect()
        conn.send_command("SUBSCRIBE", _channel(self.owner.name, self.url))
        reply = conn.read_response(push_request=True)
        if not (isinstance(reply, list) and reply and reply[0] == b"subscribe"):
            raise redis.ConnectionError("unexpected reply to SUBSCRIBE")
        return conn

    def _listen(self, conn: Any) -> None:
        quiet_since = time.monotonic()
        pinged = False
        while self._current() and self.url == settings.CACHE_URL:
            if conn.can_read(timeout=HEARTBEAT_SECONDS):
                reply = conn.read_response(push_request=True)
                quiet_since, pinged = time.monotonic(), False
                if isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
                    self.owner._forget_message(reply[2])
                continue
            if not pinged:
                conn.send_command("PING", check_health=False)  # any answer will do (RESP2: ["pong", ""], RESP3: PONG)
                pinged = True
            elif time.monotonic() - quiet_since > HEARTBEAT_SECONDS + settings.CACHE_TIMEOUT_SECONDS:
                raise redis.TimeoutError("no answer to PING")


@receiver(setting_changed, dispatch_uid="invalidation-cache-url")
def _cache_url_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "CACHE_URL":
        for instance in list(_instances):
            instance._following = False


def _after_fork_in_child() -> None:
    for instance in list(_instances):
        instance._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
