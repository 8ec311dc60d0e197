"""One `atomic` for both backends: Django's on SQL databases, the MongoDB backend's real transaction on MongoDB."""

import logging
from contextlib import ContextDecorator

from django.db import DEFAULT_DB_ALIAS, connections, transaction

logger = logging.getLogger(__name__)


def _atomic_for(alias: str):
    if connections[alias].vendor == "mongodb":
        from django_mongodb_backend.transaction import atomic as mongo_atomic

        return mongo_atomic(alias)
    return transaction.atomic(using=alias)


class _Atomic(ContextDecorator):
    """Picks the backend when the block starts, not at import, so the same code serves both test runs."""

    def __init__(self, using: str):
        self.using = using
        self._inner = None

    def _recreate_cm(self):
        # A decorated function may run in several threads at once: each call gets its own context manager.
        return _Atomic(self.using)

    def __enter__(self):
        self._inner = _atomic_for(self.using)
        return self._inner.__enter__()

    def __exit__(self, exc_type, exc, tb):
        return self._inner.__exit__(exc_type, exc, tb)


def atomic(using=DEFAULT_DB_ALIAS):
    """Context manager and decorator. On MongoDB, inner blocks join the outer transaction (no savepoints)."""
    if callable(using):  # bare @atomic
        return _Atomic(DEFAULT_DB_ALIAS)(using)
    return _Atomic(using)


def on_commit(func, using: str = DEFAULT_DB_ALIAS, robust: bool = True) -> None:
    """Run func after the surrounding atomic() commits (at once when there is none), on either backend.
    Robust by default: these callbacks queue background work, and a broker hiccup must not fail a committed write
    (the progress sweep catches up on whatever was not queued). Not Django's own robust mode: its error log reads
    func.__qualname__, which a functools.partial lacks, so the handler itself raised and the write answered 500."""
    transaction.on_commit(_logged(func) if robust else func, using=using)


def _logged(func):
    def run():
        try:
            func()
        except Exception:
            from .metrics import AFTER_COMMIT_FAILURES

            name = _callable_name(func)
            AFTER_COMMIT_FAILURES.labels(name).inc()
            logger.exception("after-commit work failed", extra={"callback": name})

    return run


def _callable_name(func) -> str:
    inner = getattr(func, "func", func)  # a functools.partial names what it wraps
    return f"{getattr(inner, '__module__', '')}.{getattr(inner, '__qualname__', type(inner).__name__)}"


def chunked(queryset, size: int):
    """The queryset's rows, `size` at a time, by primary-key ranges, so memory stays flat however many rows there
    are. Not QuerySet.iterator(): the MongoDB backend reads a whole result into memory (seen: 46 MB for 20,000
    items)."""
    queryset = queryset.order_by("pk")
    last = None
    while True:
        chunk = list((queryset if last is None else queryset.filter(pk__gt=last))[:size])
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk


def one(queryset):
    """The row of a lookup by a unique key, or None. Not first(): that adds ORDER BY pk, which costs a sort stage on
    MongoDB and a tenth of a small read's time in building the query."""
    return next(iter(queryset[:1]), None)
