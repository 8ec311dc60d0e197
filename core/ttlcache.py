"""
A per-process cache for rows read on every request that change rarely (a site's row, its statuses): entries expire
after a number of seconds read from settings at each use, and the whole map starts over past a size bound, so a flood
of distinct keys cannot grow a process's memory (forgetting only costs a query). Writers forget the keys they change;
other processes follow within the expiry, or at once where core.invalidation carries the forgetting to them.

Generations, for that: every entry is kept under the cache's generation of the moment, and only an entry of the
current generation is served. suspend() serves and keeps nothing until resume(), which starts a new generation, so
whatever was held before is never served again. A value loaded across a forget, a clear or a change of generation is
not kept (it may have been read before the write that caused it), so a forget cannot be undone by a slow reader.
"""

import itertools
import os
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

V = TypeVar("V")

_instances: "weakref.WeakSet[TTLCache]" = weakref.WeakSet()


class TTLCache(Generic[V]):
    def __init__(self, seconds: Callable[[], float], *, max_entries: int) -> None:
        self._seconds = seconds
        self._max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, V, int]] = {}
        self._lock = threading.Lock()
        self._generations = itertools.count(1)
        self._generation: int | None = 0  # None: suspended
        self._forgets = 0  # counts forgets and clears: a load that spans one keeps nothing
        _instances.add(self)

    def get(self, key: Hashable, load: Callable[[], V | None], *, fresh: bool = False) -> V | None:
        """The value held for key, else load()'s, which is kept unless it is None (something missing now may exist at
        the next request: its creation must count at once). fresh=True always loads. 0 seconds: never kept."""
        generation, forgets = self._generation, self._forgets  # before the load: what it may be kept under
        if not fresh:  # peek(), inline: this runs on every request
            hit = self._entries.get(key)
            if hit is not None and hit[2] == generation and hit[0] > time.monotonic() and self._seconds() > 0:
                return hit[1]
        value = load()
        self._keep(key, value, generation, forgets)
        return value

    def peek(self, key: Hashable) -> V | None:
        """The value held for key if it has not expired and belongs to the current generation, else None; loads
        nothing."""
        hit = self._entries.get(key) if self._seconds() > 0 else None
        return hit[1] if hit is not None and hit[0] > time.monotonic() and hit[2] == self._generation else None

    def put(self, key: Hashable, value: V | None) -> None:
        """Hold value for key (None forgets it)."""
        self._keep(key, value, self._generation, self._forgets)

    def _keep(self, key: Hashable, value: V | None, generation: int | None, forgets: int) -> None:
        seconds = self._seconds()
        with self._lock:
            if value is None or seconds <= 0:
                self._entries.pop(key, None)
            elif generation is not None and generation == self._generation and forgets == self._forgets:
                if len(self._entries) >= self._max_entries:
                    self._entries.clear()
                self._entries[key] = (time.monotonic() + seconds, value, generation)

    def forget(self, keys: Iterable[Hashable]) -> None:
        with self._lock:
            self._forgets += 1
            for key in keys:
                self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._forgets += 1
            self._entries.clear()

    def suspend(self) -> None:
        """Serve and keep nothing until resume(): every get loads."""
        with self._lock:
            self._generation = None
            self._forgets += 1
            self._entries.clear()

    def resume(self) -> None:
        """Serve and keep again, from a new generation: nothing held or loaded before this call is ever served."""
        with self._lock:
            self._generation = next(self._generations)
            self._forgets += 1
            self._entries.clear()


def _new_locks_in_child() -> None:
    # A thread of the parent (core.invalidation's listener) may have held a cache's lock when the process forked:
    # in the child that lock would never be released.
    for instance in list(_instances):
        instance._lock = threading.Lock()


os.register_at_fork(after_in_child=_new_locks_in_child)
