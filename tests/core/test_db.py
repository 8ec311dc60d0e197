import pytest
from django.contrib.auth.models import Group

from core.db import atomic, on_commit


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


# Another process: takes the writer file lock, says so, holds it until its stdin closes.
HOLDER = """
import fcntl, sys
handle = open(sys.argv[1], "a+b")
fcntl.flock(handle, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


@SQLITE_ONLY
@pytest.mark.django_db(transaction=True)
def test_sqlite_writers_take_turns_across_threads_and_processes():
    import subprocess
    import sys
    import threading

    from django.db import connection

    from core.db import sqlite_writer_turn

    order: list[str] = []
    inside = threading.Event()
    leave = threading.Event()

    def writer(name: str, hold: bool) -> None:
        with sqlite_writer_turn():
            order.append(f"{name} in")
            if hold:
                inside.set()
                leave.wait(30)
            order.append(f"{name} out")

    first = threading.Thread(target=writer, args=("first", True))
    first.start()
    assert inside.wait(30)
    second = threading.Thread(target=writer, args=("second", False))
    second.start()
    second.join(0.2)
    assert order == ["first in"]  # the second thread waits for its turn
    leave.set()
    first.join(30)
    second.join(30)
    assert order == ["first in", "first out", "second in", "second out"]

    # Another process holding the file lock beside the database: this one's turn waits until it lets go.
    path = f"{connection.settings_dict['NAME']}.writer-lock"
    other = subprocess.Popen(
        [sys.executable, "-c", HOLDER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert other.stdout.readline() == "held\n"
    took = threading.Event()

    def third() -> None:
        with sqlite_writer_turn():
            took.set()

    waiter = threading.Thread(target=third)
    waiter.start()
    assert not took.wait(0.3)
    other.stdin.close()  # the other process ends, and lets go
    assert took.wait(30)
    waiter.join(30)
    other.wait(30)


@SQLITE_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_write_inside_a_transaction_does_not_wait_for_a_turn():
    import threading

    from core.db import sqlite_writer_turn

    inside, leave = threading.Event(), threading.Event()

    def holder() -> None:
        with sqlite_writer_turn():
            inside.set()
            leave.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    assert inside.wait(30)
    try:
        with atomic(), sqlite_writer_turn():  # would wait for the holder if it took a turn
            Group.objects.create(name="nested")
    finally:
        leave.set()
        thread.join(30)
    assert Group.objects.filter(name="nested").exists()
