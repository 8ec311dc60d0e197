import time

import pytest
from django.contrib.auth.models import Group

from core.db import _WRITER_THREADS, atomic, on_commit


@pytest.mark.django_db(transaction=True)
def test_atomic_rolls_back_every_write_in_the_block():
    with pytest.raises(RuntimeError), atomic():
        Group.objects.create(name="first")
        Group.objects.create(name="second")
        raise RuntimeError("abort")
    assert not Group.objects.filter(name__in=["first", "second"]).exists()


@pytest.mark.django_db(transaction=True)
def test_on_commit_runs_after_commit_and_not_after_rollback():
    ran = []
    with atomic():
        Group.objects.create(name="kept")
        on_commit(lambda: ran.append("committed"))
        assert ran == []
    assert ran == ["committed"]
    with pytest.raises(RuntimeError), atomic():
        on_commit(lambda: ran.append("rolled back"))
        raise RuntimeError("abort")
    assert ran == ["committed"]


@pytest.mark.django_db(transaction=True)
def test_atomic_as_a_decorator():
    @atomic
    def create_then_fail():
        Group.objects.create(name="decorated")
        raise ValueError("no")

    with pytest.raises(ValueError):
        create_then_fail()
    assert not Group.objects.filter(name="decorated").exists()


SQLITE_ONLY = pytest.mark.skipif("os.environ.get('TEST_DATABASE_LABEL') == 'mongodb'", reason="SQLite's writer turn")

# Another process: takes the writer file lock beside the database, says so, holds it until its stdin closes.
HOLDER = """
import fcntl, sys
handle = open(sys.argv[1], "a+b")
fcntl.flock(handle, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def other_writer():
    """A process holding the SQLite writers' turn (the file lock only: not SQLite's own lock)."""
    import subprocess
    import sys

    from django.db import connection

    path = f"{connection.settings_dict['NAME']}.writer-lock"
    other = subprocess.Popen(
        [sys.executable, "-c", HOLDER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert other.stdout.readline() == "held\n"
    yield other
    other.stdin.close()
    other.wait(30)


def _in_thread(work):
    import threading

    done = threading.Event()

    def run() -> None:
        try:
            work()
        finally:
            from django.db import connection

            connection.close()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done


@SQLITE_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_sqlite_transaction_waits_for_its_turn_held_by_another_process(other_writer):
    def write() -> None:
        with atomic():
            Group.objects.create(name="after the other")

    done = _in_thread(write)
    assert not done.wait(0.5)  # SQLite's own lock is free: only the turn holds this writer back
    other_writer.stdin.close()  # the other process ends, and lets go
    assert done.wait(30)
    assert Group.objects.filter(name="after the other").exists()


@SQLITE_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_write_outside_any_transaction_waits_for_its_turn_too(other_writer):
    done = _in_thread(lambda: Group.objects.create(name="autocommit"))  # a save() opens no transaction
    assert not done.wait(0.5)
    assert not Group.objects.filter(name="autocommit").exists()  # reads never wait
    other_writer.stdin.close()
    assert done.wait(30)
    assert Group.objects.filter(name="autocommit").exists()


@SQLITE_ONLY
@pytest.mark.django_db(transaction=True)
def test_the_turn_is_given_back_at_commit_before_the_callbacks_and_at_rollback(other_writer):
    other_writer.stdin.close()
    other_writer.wait(30)
    seen = []
    with atomic():
        Group.objects.create(name="committed")
        on_commit(lambda: seen.append(_WRITER_THREADS.locked()))
    assert seen == [False]  # the callback ran after the turn was given back
    with pytest.raises(RuntimeError), atomic():
        raise RuntimeError("abort")
    assert not _WRITER_THREADS.locked()


@SQLITE_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_block_inside_a_transaction_takes_no_turn(other_writer):
    from django.db import transaction

    with transaction.atomic(), atomic():  # would wait for the other process if the inner block took a turn
        Group.objects.create(name="nested")
    assert Group.objects.filter(name="nested").exists()


@SQLITE_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_writer_waits_for_its_turn_no_longer_than_for_sqlites_lock(other_writer):
    from django.db import OperationalError, connection

    options = connection.settings_dict.setdefault("OPTIONS", {})
    saved = options.get("timeout")
    options["timeout"] = 0.3
    try:
        with pytest.raises(OperationalError, match="database is locked"), atomic():
            Group.objects.create(name="never")
    finally:
        options["timeout"] = saved
    assert not _WRITER_THREADS.locked()  # nothing held after the failure
    assert not connection.in_atomic_block
    other_writer.stdin.close()
    other_writer.wait(30)
    with atomic():
        Group.objects.create(name="later")
    assert set(Group.objects.filter(name__in=["never", "later"]).values_list("name", flat=True)) == {"later"}


def _hog(started, stop, hold_seconds: float) -> None:
    """A process writing transaction after transaction with no pause between them, as an ingest does."""
    import os
    import time

    try:
        count = 0
        while not stop.is_set():
            with atomic():
                Group.objects.create(name=f"hog {count}")
                time.sleep(hold_seconds)
            count += 1
            started.set()
    finally:
        os._exit(0)  # no test teardown in the child


@SQLITE_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_process_writing_in_a_loop_cannot_starve_another_writer():
    import multiprocessing

    from django.db import connection

    options = connection.settings_dict.setdefault("OPTIONS", {})
    saved = options.get("timeout")
    # Each of the hog's transactions holds the turn 50 ms; a writer that never got its turn between two of them would
    # fail after 2 s with "database is locked".
    options["timeout"] = 2
    connection.close()  # the child opens its own
    context = multiprocessing.get_context("fork")
    started, stop = context.Event(), context.Event()
    hog = context.Process(target=_hog, args=(started, stop, 0.05), daemon=True)
    hog.start()
    try:
        assert started.wait(30)
        for n in range(6):
            with atomic():
                Group.objects.create(name=f"ours {n}")
                # Held a while, as the hog holds its own: the hog is back in line before we give the turn back, so
                # the next turn is its (a quick write could come round again while a loaded machine had the hog
                # still between two transactions, out of line, and take turn after turn without starving anyone).
                time.sleep(0.02)
        assert hog.is_alive()  # it wrote all along
    finally:
        stop.set()
        hog.join(30)
        if saved is None:
            options.pop("timeout", None)
        else:
            options["timeout"] = saved
        connection.close()  # the next test's connection opens with the timeout restored
    names = list(Group.objects.order_by("id").values_list("name", flat=True))
    ours = [names.index(f"ours {n}") for n in range(6)]
    # Taken in turns: the hog wrote between our writes, and we never waited behind more than a few of its writes.
    assert all(later - earlier <= 4 for earlier, later in zip([names.index("hog 0"), *ours], ours, strict=False))
    assert any(later - earlier > 1 for earlier, later in zip(ours, ours[1:], strict=False))
