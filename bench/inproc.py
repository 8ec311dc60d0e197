"""
CPU time of one request inside the app, without a server or a client: the WSGI callable called directly, in a
process with the stack's environment (production settings, its database, its Redis cache). Reported as the best of
5 batches of CPU time (time.process_time), which a busy shared machine disturbs far less than a wall clock.

Run by bench/api through `measure(stack, requests)`; `--profile read|patch` prints where that request's time goes
(cProfile, the functions with the most cumulative time).
"""

import io
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def _environ(method: str, url: str, headers: dict, body: bytes) -> dict:
    parts = urlsplit(url)
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": parts.path,
        "QUERY_STRING": parts.query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(parts.port or 80),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": parts.netloc,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE",) else f"HTTP_{key}"] = value
    return environ


def _child(spec: dict) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "herochecklist.settings"
    from herochecklist.wsgi import application

    turns = itertools.count()

    def call(request: dict) -> None:
        # A write alternates its bodies (done, todo, ...), so every call changes something.
        bodies = request.get("bodies") or [""]
        body = bodies[next(turns) % len(bodies)].encode()
        statuses = []
        chunks = application(
            _environ(request["method"], request["url"], request["headers"], body),
            lambda status, headers, exc_info=None: statuses.append(status),
        )
        b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        if not statuses[0].startswith("2"):
            raise SystemExit(f"{request['url']} answered {statuses[0]}")

    results = {}
    for name, request in spec["requests"].items():
        for _ in range(50):
            call(request)
        best = float("inf")
        for _ in range(5):
            started = time.process_time()
            for _ in range(spec["n"]):
                call(request)
            best = min(best, (time.process_time() - started) / spec["n"])
        results[name] = best * 1e6
    if spec.get("profile"):
        import cProfile
        import pstats

        # CPU time, as the figures above: a wall clock would count the waits for Redis and the disk as work.
        profiler = cProfile.Profile(time.process_time)
        request = spec["requests"][spec["profile"]]
        profiler.enable()
        for _ in range(spec["n"]):
            call(request)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
        stats.print_stats(45)
        # Our own functions, for the breakdown (from whichever checkout runs the bench).
        stats.print_stats(rf"{ROOT}/(checklists|tenants|core)/", 40)
        stats.print_callees(r"_checklist_attempt")
        stats.sort_stats("tottime").print_stats(30)  # where the time itself is spent, whoever called
        print(out.getvalue(), file=sys.stderr)
    print(json.dumps(results))


def measure(env: dict, requests: dict, *, n: int = 300, profile: str = "") -> dict[str, float]:
    """CPU µs per request for each of `requests` (name: {method, url, headers, bodies}), in a fresh process."""
    return measure_env(env, "bench.inproc", {"requests": requests, "n": n, "profile": profile}, show=bool(profile))


def measure_env(env: dict, module: str, spec: dict, *, show: bool = False) -> dict:
    """Runs `python -m <module> --child` with the stack's environment, the spec as JSON on its stdin; returns the
    JSON of its last line."""
    out = subprocess.run(
        [sys.executable, "-m", module, "--child"],
        input=json.dumps(spec),
        cwd=ROOT,
        env={**env, "LOG_LEVEL": "ERROR"},
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"{module} failed: {out.stderr[-2000:]}")
    if show:
        print(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    _child(json.loads(sys.stdin.read()))
