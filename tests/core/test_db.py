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
