"""The suite's order under pytest-xdist (tests/conftest.py, spread_slow): the slow tests start first, spread over the
workers, as xdist's own worksteal scheduler hands the collection out."""

from types import SimpleNamespace

from xdist.scheduler.worksteal import WorkStealingScheduling

from tests.conftest import first_chunks, spread_slow

# The slow tests' seconds as marked (a whole run on the reference machine), among 1,383 others.
SLOW = {"schema": 57, "contacts": 35, "make-run": 30, "prefork": 20, "admin": 10, "backup": 8, "alerts": 5}
SLOW |= {"merge": 2, "audit": 2, "poll": 2}


class Node:
    """What xdist's scheduler asks of a worker: the tests it is sent, in order."""

    def __init__(self, name):
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent: list[int] = []

    def send_runtest_some(self, indices):
        self.sent.extend(indices)


def first_runs(names: list[str], workers: int) -> list[list[str]]:
    """The tests each worker is sent first by xdist's worksteal scheduler, in the order it runs them."""
    scheduler = WorkStealingScheduling(SimpleNamespace(getvalue=lambda name: [f"{workers}*popen"]))
    nodes = [Node(f"gw{n}") for n in range(workers)]
    for node in nodes:
        scheduler.add_node(node)
    for node in nodes:
        scheduler.add_node_collection(node, names)
    scheduler.schedule()
    return [[names[index] for index in node.sent] for node in nodes]


def test_the_slow_tests_start_first_on_every_worker_longest_first_and_about_as_many_seconds_each():
    names = [f"test_{n}" for n in range(1383)] + list(SLOW)  # as collected: the slow ones anywhere
    ordered = spread_slow(names, 2, lambda name: SLOW.get(name, 0))
    assert sorted(ordered) == sorted(names)
    runs = first_runs(ordered, 2)
    assert [len(run) for run in runs] == first_chunks(len(names), 2) == [696, 697]
    slow_runs = [[name for name in run if name in SLOW] for run in runs]
    for run, slow in zip(runs, slow_runs, strict=True):
        assert run[: len(slow)] == slow  # before any other test of that worker
        assert [SLOW[name] for name in slow] == sorted((SLOW[name] for name in slow), reverse=True)
    assert sorted(sum(SLOW[name] for name in slow) for slow in slow_runs) == [85, 86]  # not 171 and 0
    # The others keep their order (a module's tests together): the first worker takes them from the front.
    assert [name for name in ordered if name not in SLOW] == names[:1383]


def test_without_xdist_the_slow_tests_start_first_longest_first():
    names = ["a", "merge", "b", "schema", "c", "prefork"]
    assert spread_slow(names, 1, lambda name: SLOW.get(name, 0)) == ["schema", "prefork", "merge", "a", "b", "c"]
