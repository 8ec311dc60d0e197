"""
bench/api: the app under gunicorn (production settings) on 127.0.0.1, driven by an asyncio httpx client for a
fixed time per scenario:

  floor  GET /healthz: a bare Django JSON view, no auth, no database (the framework's own floor)
  read   GET a 20-item checklist with a Connect JWT (HS256 + qsh verified, tenant looked up, read from storage)
  patch  PATCH one item's status with the same JWT (a versioned write with history and counts)

Prints requests/s, p50/p90/p99 latency, errors and the web workers' peak memory, and each scenario's throughput
as a ratio of the floor measured in the same run.
"""

import argparse
import asyncio
import os
import statistics
import time

import httpx

from bench.stack import Stack


async def _drive_once(url: str, *, method: str, headers: dict, body_for, seconds: float, concurrency: int):
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker(n: int):
            nonlocal errors
            i = 0
            while time.monotonic() < deadline:
                start = time.perf_counter()
                try:
                    response = await client.request(method, url, headers=headers, json=body_for(n, i))
                    if response.status_code >= 400:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append((time.perf_counter() - start) * 1000)
                i += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.monotonic() - started
    return latencies, errors, elapsed


def _summary(latencies: list[float], errors: int, elapsed: float) -> dict:
    latencies = sorted(latencies)

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] if latencies else float("nan")

    return {
        "rps": len(latencies) / elapsed,
        "p50": pct(50),
        "p90": pct(90),
        "p99": pct(99),
        "errors": errors,
        "n": len(latencies),
    }


def interleaved(scenarios: dict, *, seconds: float, rounds: int, concurrency: int) -> tuple[dict, dict]:
    """Each scenario (name: (url, method, headers, body_for)) for `seconds` in all, run in `rounds` alternating
    slices, so that a slow spell of a shared machine falls on all of them alike rather than on one. Returns the
    summaries and, per scenario, its requests/s in each round (for ratios round by round)."""
    runs = {name: ([], 0, 0.0) for name in scenarios}
    per_round: dict[str, list[float]] = {name: [] for name in scenarios}
    for _ in range(rounds):
        for name, (url, method, headers, body_for) in scenarios.items():
            latencies, errors, elapsed = asyncio.run(
                _drive_once(
                    url,
                    method=method,
                    headers=headers,
                    body_for=body_for,
                    seconds=seconds / rounds,
                    concurrency=concurrency,
                )
            )
            all_latencies, all_errors, all_elapsed = runs[name]
            runs[name] = (all_latencies + latencies, all_errors + errors, all_elapsed + elapsed)
            per_round[name].append(len(latencies) / elapsed)
    return {name: _summary(*run) for name, run in runs.items()}, per_round


def ratio_range(ours: list[float], theirs: list[float]) -> str:
    ratios = sorted(a / b for a, b in zip(ours, theirs, strict=True))
    return f"{ratios[0]:.2f} to {ratios[-1]:.2f} across {len(ratios)} rounds (median {statistics.median(ratios):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10, help="per scenario, over all rounds")
    parser.add_argument("--rounds", type=int, default=5, help="alternating slices per scenario")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()

    stack = Stack(workers=args.workers, database_url=args.database_url).start()
    try:
        issue = {"id": "10001", "key": "DEMO-1", "typeId": "10002", "projectId": "10000"}
        auth = {"Authorization": f"JWT {stack.jira.context_token(issue)}"}
        base = stack.seed_checklist(auth)
        items = httpx.get(base, headers=auth).json()["items"]
        statuses = ["todo", "done"]
        scenarios = {
            "floor": (f"{stack.url}/healthz", "GET", {}, lambda n, i: None),
            "read": (base, "GET", auth, lambda n, i: None),
            "patch": (
                f"{base}/items/{items[0]['id']}",
                "PATCH",
                auth,
                lambda n, i: {"status": statuses[i % 2]},
            ),
        }
        results, per_round = interleaved(
            scenarios, seconds=args.seconds, rounds=args.rounds, concurrency=args.concurrency
        )
        peak = stack.peak_rss_mb()
    finally:
        stack.stop()

    print(
        f"bench/api: gunicorn {args.workers} workers, {args.concurrency} concurrent clients, "
        f"{args.seconds:.0f}s per scenario in {args.rounds} alternating rounds, "
        f"database {'given' if args.database_url else 'SQLite'}"
    )
    print(f"  {'scenario':8} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'errors':>7} {'of floor':>9}")
    floor = results["floor"]["rps"]
    for name, r in results.items():
        print(
            f"  {name:8} {r['rps']:9.0f} {r['p50']:8.1f} {r['p90']:8.1f} {r['p99']:8.1f} {r['errors']:7d} "
            f"{r['rps'] / floor:9.2f}"
        )
    print(f"  read / floor by round: {ratio_range(per_round['read'], per_round['floor'])}")
    print(f"  peak web worker memory: {peak:.0f} MB")


if __name__ == "__main__":
    main()
