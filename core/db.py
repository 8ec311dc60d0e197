"""One `atomic` for both backends: Django's on SQL databases, a real MongoDB transaction on MongoDB.

On MongoDB the transaction lives in a driver session that the backend keeps on the connection (`connection.session`)
and passes to every query. If a commit or abort fails and that session stays there, every later query of the process
runs inside a dead session, without a transaction. So our block, not the backend's, owns the end of the transaction:
any failure of commit or abort ends and forgets the session before it lets the error go, and a commit whose reply was
lost is reported as CommitUnknown (it may have landed), never as a plain failure that would invite a blind retry."""

import fcntl
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ContextDecorator, nullcontext
from types import TracebackType
from typing import Any, TypeVar, overload

from django.db import DEFAULT_DB_ALIAS, DatabaseError, OperationalError, connections, transaction
from django.db.backends.signals import connection_created
from django.db.models import Model, QuerySet
from django.dispatch import receiver
from pymongo.errors import PyMongoError

from .metrics import AFTER_COMMIT_FAILURES

logger = logging.getLogger(__name__)

_M = TypeVar("_M", bound=Model)
_F = TypeVar("_F", bound=Callable[..., Any])


class CommitUnknown(DatabaseError):
    """The commit was sent, but its answer never came (lost reply, timeout): the transaction may or may not have
    landed. Whoever retries must first check whether it did."""


def _has_label(exc: BaseException, label: str) -> bool:
    has_label = getattr(exc, "has_error_label", None)
    return bool(has_label and has_label(label))


def is_write_conflict(exc: BaseException) -> bool:
    """A transaction lost to a concurrent one (MongoDB's TransientTransactionError, or its lock wait timing out): the
    same transaction, run again, may succeed. The backend wraps the driver's error, so look down the chain.

    Not SQLite's "database is locked": its writers queue for the lock before they begin (core.db's writer turn,
    then BEGIN IMMEDIATE), so that error comes only after the whole wait (20 s) for a lock someone else held all
    along (another process, a backup). It is no conflict with a writer of the same records: retried, one request
    waited five times that long, and a conditional write was answered 412 "changed since you loaded it" when
    nothing had. It goes up as the database being unavailable (503, Retry-After), nothing written."""
    seen: BaseException | None = exc
    while seen is not None:
        if _has_label(seen, "TransientTransactionError"):
            return True
        if getattr(seen, "timeout", False) is True:  # pymongo's timeoutMS ran out waiting for a lock
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _outcome_unknown(exc: BaseException) -> bool:
    # The driver labels a commit it could not confirm; a timeoutMS expiry may come without the label.
    return _has_label(exc, "UnknownTransactionCommitResult") or getattr(exc, "timeout", False) is True


def discard_session(connection, *, kill: bool = False) -> None:
    """Forget this connection's transaction state, whatever it is, so the next block starts a fresh session.

    kill: also kill the session on the server, which aborts its transaction if it is still open there (a commit
    that never arrived leaves it open, holding its locks until the server's lifetime limit; it could even commit
    later). After that, the transaction has either landed or never will: only then may anyone check which.
    Errors doing either are only logged."""
    session, connection.session = connection.session, None
    connection.in_atomic_block_mongo = False
    connection.nested_atomics = 0
    connection.run_on_commit = []
    if session is None:
        return
    if kill:
        try:
            connection.connection.admin.command("killSessions", [session.session_id])
        except Exception:
            logger.warning("could not kill a failed transaction's session", exc_info=True)
    try:
        session.end_session()
    except Exception:
        logger.warning("could not end a failed transaction's session", exc_info=True)


class _MongoAtomic:
    """The backend's atomic (django_mongodb_backend.transaction.Atomic), with the failure paths made safe."""

    def __init__(self, using: str):
        self.using = using

    def __enter__(self):
        connection = transaction.get_connection(self.using)
        if connection.in_atomic_block_mongo:
            connection.nested_atomics += 1  # inner blocks join the outer transaction
            return
        if connection.session is not None:
            # A session left behind by code outside our block: never run a new transaction inside it.
            logger.warning("a transaction session was left open; discarding it")
            discard_session(connection)
        connection.start_transaction_mongo()
        connection.in_atomic_block_mongo = True

    def __exit__(self, exc_type, exc, tb):
        connection = transaction.get_connection(self.using)
        if connection.nested_atomics:
            connection.nested_atomics -= 1
            return False
        connection.in_atomic_block_mongo = False
        if exc_type is not None:
            try:
                connection.rollback_mongo()
            except Exception:
                logger.warning("abort failed; the session is discarded", exc_info=True)
                discard_session(connection, kill=True)
            return False
        session = connection.session
        if session is not None:
            try:
                session.commit_transaction()
            except Exception as error:
                discard_session(connection, kill=True)
                if _outcome_unknown(error):
                    raise CommitUnknown("The commit's reply was lost; the transaction may have landed.") from error
                raise
            connection.session = None
            try:
                session.end_session()
            except Exception:
                logger.warning("could not end a committed transaction's session", exc_info=True)
        connection.run_and_clear_commit_hooks()
        return False


def landed(stored: Callable[[], bool]) -> bool:
    """After CommitUnknown: whether the transaction landed, by `stored()`, a read of something only it wrote. The
    failed block killed its session, so the answer is final. Asked a few times: the fault that lost the reply may
    still be passing. If it cannot be told, CommitUnknown again: the caller must not guess (503, reload first)."""
    for wait in (0, 0.2, 1.0):
        time.sleep(wait)
        try:
            return stored()
        except (DatabaseError, PyMongoError):  # the backend's wrapped errors, and the driver's own
            logger.warning("could not tell whether a write landed", exc_info=True)
    raise CommitUnknown("Whether the transaction landed could not be told.")


def _atomic_for(alias: str, connection: Any = None):
    """`connection`: the alias's connection, when the caller has it at hand (each look costs 1-2 µs)."""
    if (connection or connections[alias]).vendor == "mongodb":
        return _MongoAtomic(alias)
    return transaction.atomic(using=alias)


class _Atomic(ContextDecorator):
    """Picks the backend when the block starts, not at import, so the same code serves both test runs."""

    def __init__(self, using: str):
        self.using = using
        self._inner: Any = None
        self._turn = _WriterTurn(using)

    def _recreate_cm(self) -> "_Atomic":
        # A decorated function may run in several threads at once: each call gets its own context manager.
        return _Atomic(self.using)

    def __enter__(self) -> None:
        # On SQLite the outermost block waits for its writer's turn first (_WriterTurn, below).
        connection = connections[self.using]  # looked up once for the three uses below
        took = self._turn.take(connection)
        entered = False
        try:
            self._inner = _atomic_for(self.using, connection)
            self._inner.__enter__()
            entered = True
            if took:
                connection.on_commit(self._turn.give_back)  # transaction.on_commit: the first callback after the commit
        except BaseException:
            try:
                if entered:  # `with` calls no __exit__ when __enter__ raises: close the block opened above
                    self._inner.__exit__(*sys.exc_info())
            finally:
                self._turn.give_back()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        try:
            return self._inner.__exit__(exc_type, exc, tb)
        finally:
            self._turn.give_back()  # a rollback, or a commit that failed: no callback gave it back


@overload
def atomic(using: _F) -> _F: ...
@overload
def atomic(using: str = DEFAULT_DB_ALIAS) -> _Atomic: ...
def atomic(using: str | Callable[..., Any] = DEFAULT_DB_ALIAS) -> Any:
    """Context manager and decorator. On MongoDB, inner blocks join the outer transaction (no savepoints)."""
    if callable(using):  # bare @atomic
        return _Atomic(DEFAULT_DB_ALIAS)(using)
    return _Atomic(using)


def atomic_or_joined(using: str = DEFAULT_DB_ALIAS) -> Any:
    """A transaction of its own outside one; inside one, nothing more (no savepoint: the surrounding transaction
    is all or nothing already, and a savepoint costs two statements)."""
    return nullcontext() if connections[using].in_atomic_block else atomic(using)


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


def one(queryset: QuerySet[_M]) -> _M | None:
    """The row of a lookup by a unique key, or None. Not first(): that adds ORDER BY pk, which costs a sort stage on
    MongoDB and a tenth of a small read's time in building the query."""
    return next(iter(queryset[:1]), None)


# SQLite has one writer at a time, and a writer that finds the lock taken polls for it with growing sleeps (1, 2, 5,
# 10 ... 100 ms): writers queued there leave the lock idle between one commit and the next poll. Writers that take
# their turn here instead get it as soon as it is free: threads of a process on a lock (handed over at once),
# processes on a file lock beside the database (tried every millisecond; a process that dies lets go of it). SQLite
# only ever serves processes of one machine, so this covers them all.
_WRITER_THREADS = threading.Lock()
_writer_files: dict[str, Any] = {}
# While another process holds the turn, the first in line tries it every 0.2 ms for its first 5 ms (a checklist write
# holds it about a millisecond: with a try every millisecond the turn sat idle half a millisecond between two PATCHes,
# and PATCHes of one checklist ran 25% slower, bench/api), then every millisecond. The line itself is tried every
# millisecond: a newcomer trying it faster than those already waiting would jump the line; and a try costs CPU (a
# waiter trying every 0.2 ms burns a tenth of a core, one trying every millisecond a thirtieth).
_FILE_LOCK_FAST_POLL_SECONDS = 0.0002
_FILE_LOCK_FAST_FOR_SECONDS = 0.005
_FILE_LOCK_POLL_SECONDS = 0.001


def _forget_writer_locks_in_child() -> None:
    # A forked child (a Celery or web worker) shares its parent's open lock file, which flock cannot tell apart, and
    # may inherit the thread lock held: it opens its own.
    global _WRITER_THREADS
    _WRITER_THREADS = threading.Lock()
    _writer_files.clear()


os.register_at_fork(after_in_child=_forget_writer_locks_in_child)

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def autocommit_write_turn(execute, sql, params, many, context):
    """A write outside any transaction (a queryset's update(), a save()) is a transaction of its own: it takes a
    writer's turn too. Left to SQLite's own lock, the HubSpot pushes' single updates waited behind an ingest's chunks
    for a second or more each (bench/sync)."""
    connection = context["connection"]
    start = sql.lstrip()[:7] if sql[:1].isspace() else sql[:7]  # no copy of a long statement in the usual case
    if connection.in_atomic_block or not start.upper().startswith(_WRITES):
        return execute(sql, params, many, context)
    turn = _WriterTurn(connection.alias)
    turn.take(connection)
    try:
        return execute(sql, params, many, context)
    finally:
        turn.give_back()


@receiver(connection_created)
def _take_turns_on_sqlite(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite" and autocommit_write_turn not in connection.execute_wrappers:
        # First, not last: connection.execute_wrapper() removes the last wrapper when its block ends.
        connection.execute_wrappers.insert(0, autocommit_write_turn)


def _writer_files_of(connection: Any) -> tuple[Any, Any] | None:
    """The lock files beside the connection's database (the turn, and the line for it), opened once per process; None
    when they cannot be (a read-only directory): writers then meet SQLite's own lock only."""
    name = str(connection.settings_dict["NAME"])
    if name not in _writer_files:
        try:
            # Held for the process's lifetime.
            _writer_files[name] = (open(f"{name}.writer-lock", "a+b"), open(f"{name}.writer-line", "a+b"))  # noqa: SIM115
        except OSError:
            logger.warning("no SQLite writer lock files; writers poll for SQLite's lock", extra={"database": name})
            _writer_files[name] = None
    return _writer_files[name]


def _flock_until(handle: Any, deadline: float, *, fast: bool = False) -> None:
    fast_until = time.monotonic() + (_FILE_LOCK_FAST_FOR_SECONDS if fast else 0)
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            now = time.monotonic()
            if now >= deadline:
                raise OperationalError("database is locked (no writer's turn in time)") from None
            time.sleep(_FILE_LOCK_FAST_POLL_SECONDS if now < fast_until else _FILE_LOCK_POLL_SECONDS)


class _WriterTurn:
    """One SQLite writer's turn: taken before its transaction begins, given back as soon as it commits (before the
    commit's callbacks, which talk to Redis or the broker: nobody need wait for those) or when it rolls back.
    Nothing on other databases, or inside a transaction already: the lock is then this writer's since its BEGIN
    IMMEDIATE, and waiting here for a turn could only deadlock with a writer that has one and waits for that lock.
    A writer waits for its turn no longer than SQLite would wait for its lock (the connection's `timeout`), then
    fails as SQLite would: "database is locked", which the API answers 503 (the database is unavailable)."""

    def __init__(self, using: str) -> None:
        self.using = using
        self.held = False

    def take(self, connection: Any = None) -> bool:
        """`connection`: this alias's connection, when the caller has it at hand."""
        connection = connection or connections[self.using]
        if connection.vendor != "sqlite" or connection.in_atomic_block or connection.is_in_memory_db():
            return False
        patience = float(connection.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        deadline = time.monotonic() + patience
        threads = _WRITER_THREADS
        if not threads.acquire(timeout=patience):
            raise OperationalError("database is locked (no writer's turn in time)")
        try:
            files = _writer_files_of(connection)
            handle = None
            if files is not None:
                turn, line = files
                # The line first, then the turn: a process that has just given the turn back cannot take it again
                # while another waits (it waits in line behind it). Without it, one process writing chunk after
                # chunk (a Marketplace ingest) took the turn back within microseconds, and writers polling every
                # millisecond waited for all of it (bench/RESULTS.md, session 8).
                _flock_until(line, deadline)
                try:
                    _flock_until(turn, deadline, fast=True)
                finally:
                    fcntl.flock(line, fcntl.LOCK_UN)
                handle = turn
        except BaseException:
            threads.release()
            raise
        self._threads, self._handle, self.held = threads, handle, True
        return True

    def give_back(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            if self._handle is not None:
                fcntl.flock(self._handle, fcntl.LOCK_UN)
        finally:
            self._threads.release()
