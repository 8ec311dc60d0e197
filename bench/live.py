"""
bench/live: what live updates cost per open panel, to choose between conditional polling and server-sent events
(issue #17). The app runs in production mode under gunicorn (bench/stack.py), one 20-item checklist.

poll  P simulated visible panels, each asking once a second with If-None-Match (what static/herochecklist/live.js
      does): requests/s, the web workers' CPU per 304 (from /proc, all workers summed), its latency, and the bytes
      of a 304 against a full read; then the same panels polling without If-None-Match, for comparison.
sse   bench/live_sse.py (the app plus an event stream) under the same gunicorn: how many open panels it holds, whether
      a plain request still gets through while they are open, and the CPU each open stream costs.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

import httpx

from bench.stack import ROOT, Stack, free_port

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def wire_bytes(response: httpx.Response) -> int:
    head = len(f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n") + 2
    head += sum(len(k) + len(v) + 4 for k, v in response.headers.raw)
    return head + len(response.content)


async def _panels(url: str, headers: dict, *, panels: int, seconds: float, conditional: bool):
    """Each panel: one request a second, as live.js sends them. Returns (statuses, latencies in ms)."""
    statuses: list[int] = []
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=panels, max_keepalive_connections=panels)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        etag = (await client.get(url, headers=headers)).headers["ETag"]
        deadline = time.monotonic() + seconds

        async def panel(n: int):
            await asyncio.sleep(n / panels)  # spread over the second, as real panels are
            while time.monotonic() < deadline:
                started = time.perf_counter()
                extra = {"If-None-Match": etag} if conditional else {}
                response = await client.get(url, headers={**headers, **extra})
                latencies.append((time.perf_counter() - started) * 1000)
                statuses.append(response.status_code)
                await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))

        await asyncio.gather(*(panel(n) for n in range(panels)))
    return statuses, latencies


def poll(stack: Stack, url: str, auth: dict, *, panels: int, seconds: float, conditional: bool) -> dict:
    pids = stack.worker_pids()
    before = cpu_seconds(pids)
    started = time.monotonic()
    statuses, latencies = asyncio.run(_panels(url, auth, panels=panels, seconds=seconds, conditional=conditional))
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(pids) - before
    latencies.sort()
    return {
        "rps": len(statuses) / elapsed,
        "per_panel": len(statuses) / elapsed / panels,
        "statuses": sorted(set(statuses)),
        "cpu_ms": cpu * 1000 / max(1, len(statuses)),
        "cpu_share": cpu / elapsed,  # of one core
        "p50": statistics.median(latencies),
        "p90": latencies[int(0.9 * len(latencies))],
    }


def sse(stack: Stack, auth: dict, base: str, *, workers: int, streams: int, seconds: float, extra=()) -> dict:
    """Open `streams` event streams on a gunicorn serving bench/live_sse.py, then ask it for /healthz."""
    port = int(os.environ.get("BENCH_SSE_PORT") or free_port())
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(Path(os.sys.executable).parent / "gunicorn"),
            "bench.live_sse:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--timeout",
            "600",
            "--graceful-timeout",
            "1",
            "--log-level",
            "warning",
            *extra,
        ],
        cwd=ROOT,
        env=stack.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        opened, events = threading.Semaphore(0), []
        stop = threading.Event()

        def listen():
            try:
                with httpx.stream("GET", f"{url}/bench/sse?issue=10001", timeout=None) as response:
                    for line in response.iter_lines():
                        if line.startswith("data:"):
                            if not events or len(events) < streams:
                                opened.release()
                            events.append(time.monotonic())
                        if stop.is_set():
                            return
            except httpx.HTTPError:
                return

        threads = [threading.Thread(target=listen, daemon=True) for _ in range(streams)]
        for thread in threads:
            thread.start()
        until = time.monotonic() + 20
        held = sum(opened.acquire(timeout=max(0.0, until - time.monotonic())) for _ in range(streams))
        try:
            started = time.perf_counter()
            answered = httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            healthz_ms = (time.perf_counter() - started) * 1000
        except httpx.HTTPError:
            answered, healthz_ms = False, float("nan")
        pids = children(server.pid)
        before = cpu_seconds(pids)
        time.sleep(seconds)  # the streams idle: what an open panel costs while nothing changes
        cpu = cpu_seconds(pids) - before
        stop.set()
        return {
            "streams": streams,
            "held": held,
            "healthz": answered,
            "healthz_ms": healthz_ms,
            "cpu_ms_per_stream_second": cpu * 1000 / max(1, held) / seconds,
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()  # its workers exit with it (gunicorn's workers watch their parent)
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--panels", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    args = parser.parse_args()

    if os.environ.get("BENCH_JIRA_PORT"):
        from devhost import jira

        start = jira.JiraStandIn.__init__
        jira.JiraStandIn.__init__ = lambda self, port=0, **kw: start(self, int(os.environ["BENCH_JIRA_PORT"]), **kw)
    stack = Stack(workers=args.workers)
    if os.environ.get("BENCH_PORT"):  # a port of one's own on a shared machine
        stack.port = int(os.environ["BENCH_PORT"])
        stack.url = f"http://127.0.0.1:{stack.port}"
    if os.environ.get("BENCH_CACHE_URL"):
        stack.env["CACHE_URL"] = os.environ["BENCH_CACHE_URL"]
    stack.env["API_POLL_RATE_PER_MINUTE"] = "100000000"
    stack.start()
    print(f"bench/live: {args.panels} visible panels on one 20-item checklist, gunicorn {args.workers} sync workers")
    try:
        issue = {"id": "10001", "key": "DEMO-1", "typeId": "10002", "projectId": "10000"}
        auth = {"Authorization": f"JWT {stack.jira.context_token(issue)}"}
        base = stack.seed_checklist(auth)
        full = httpx.get(base, headers=auth)
        unchanged = httpx.get(base, headers={**auth, "If-None-Match": full.headers["ETag"]})
        assert unchanged.status_code == 304, unchanged.status_code
        request_bytes = len(f"GET {base} HTTP/1.1\r\n") + sum(len(k) + len(v) + 4 for k, v in auth.items()) + 120
        print(
            f"  bytes: 304 answer {wire_bytes(unchanged)} B, full read {wire_bytes(full)} B "
            f"({len(full.content)} B body), each request ~{request_bytes} B"
        )
        print(
            f"  {'mode':20} {'req/s':>7} {'/panel':>6} {'CPU/req ms':>10} {'CPU share':>9} {'p50 ms':>7} {'p90 ms':>7}"
        )
        for name, conditional in (("poll, If-None-Match", True), ("poll, full read", False)):
            r = poll(stack, base, auth, panels=args.panels, seconds=args.seconds, conditional=conditional)
            print(
                f"  {name:20} {r['rps']:7.1f} {r['per_panel']:6.2f} {r['cpu_ms']:10.2f} {r['cpu_share']:9.2f} "
                f"{r['p50']:7.1f} {r['p90']:7.1f}  statuses {r['statuses']}",
                flush=True,
            )
        threads = str(-(-args.panels // args.workers) + 1)
        for name, streams, extra in (
            ("sse, sync workers", args.workers, ()),
            ("sse, gthread", args.panels, ("--worker-class", "gthread", "--threads", threads)),
        ):
            r = sse(stack, auth, base, workers=args.workers, streams=streams, seconds=args.seconds / 2, extra=extra)
            answer = f"answered in {r['healthz_ms']:.0f} ms" if r["healthz"] else "NOT answered within 5 s"
            print(
                f"  {name}: {r['held']} of {r['streams']} streams open; /healthz meanwhile {answer}; "
                f"idle stream CPU {r['cpu_ms_per_stream_second']:.2f} ms per second",
                flush=True,
            )
    finally:
        try:
            stack.stop()
        except subprocess.TimeoutExpired:
            stack.proc.kill()


if __name__ == "__main__":
    main()
