"""
A per-process cache for rows read on every request that change rarely (a site's row, its statuses): entries expire
after a number of seconds read from settings at each use, and the whole map starts over past a size bound, so a flood
of distinct keys cannot grow a process's memory (forgetting only costs a query). Writers forget the keys they change;
other processes follow within the expiry.
"""

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    def __init__(self, seconds: Callable[[], float], *, max_entries: int) -> None:
        self._seconds = seconds
        self._max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], V | None], *, fresh: bool = False) -> V | None:
        """The value held for key, else load()'s, which is kept unless it is None (something missing now may exist at
        the next request: its creation must count at once). fresh=True always loads. 0 seconds: never kept."""
        hit = None if fresh else self.peek(key)
        if hit is not None:
            return hit
        value = load()
        self.put(key, value)
        return value

    def peek(self, key: Hashable) -> V | None:
        """The value held for key if it has not expired, else None; loads nothing."""
        hit = self._entries.get(key) if self._seconds() > 0 else None
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def put(self, key: Hashable, value: V | None) -> None:
        """Hold value for key (None forgets it)."""
        seconds = self._seconds()
        with self._lock:
            if value is None or seconds <= 0:
                self._entries.pop(key, None)
            else:
                if len(self._entries) >= self._max_entries:
                    self._entries.clear()
                self._entries[key] = (time.monotonic() + seconds, value)

    def forget(self, keys: Iterable[Hashable]) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
