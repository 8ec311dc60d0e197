"""The command line of a local Celery worker for tests and benchmarks: one queue, quiet, no cluster chatter."""

import sys


def worker_command(queue: str, *, processes: int = 1, loglevel: str = "WARNING") -> list[str]:
    pool = ["--pool=solo"] if processes == 1 else ["-c", str(processes)]
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "herochecklist",
        "worker",
        "-Q",
        queue,
        *pool,
        "-l",
        loglevel,
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
    ]
