"""
bench/api: the app in the production shape (production settings, the Redis cache, a Redis broker with a Celery worker
taking the queued Jira pushes) on 127.0.0.1, driven by wrk (bench/load.py) for a fixed time per scenario:

  limit  a trivial WSGI app (bench/trivial.py) on the same server, workers and threads: the physical limit
  floor  GET /healthz: a bare Django JSON view, no auth, no database (the framework's own floor)
  read   GET a 20-item checklist with a Connect JWT (HS256 + qsh verified, tenant looked up, read from storage)
  patch  PATCH one item's status with the same JWT (a versioned write with history and counts, a push queued)

Prints requests/s, p50/p90/p99 latency, errors, the client's own CPU share and the web workers' peak memory, and
each scenario's throughput as a ratio of the floor and of the limit measured in the same run, round by round.
"""

import argparse
import json
import os

import httpx

from bench.inproc import measure
from bench.load import Scenario, interleaved, ratio_range, table
from bench.stack import SERVERS, Stack


def server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", choices=SERVERS, default=os.environ.get("BENCH_SERVER", "granian"))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS") or 2))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS") or 2))
    parser.add_argument("--seconds", type=float, default=10, help="per scenario, over all rounds")
    parser.add_argument("--rounds", type=int, default=5, help="alternating slices per scenario")
    parser.add_argument("--connections", type=int, default=16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    server_arguments(parser)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--no-broker", action="store_true", help="tasks run eagerly in the request (not production)")
    parser.add_argument("--profile", choices=("read", "patch"), help="print where that in-process request's time goes")
    parser.add_argument("--cpu-only", action="store_true", help="only the in-process CPU per request, no wrk")
    args = parser.parse_args()

    stack = Stack(
        workers=args.workers,
        database_url=args.database_url,
        server=args.server,
        threads=args.threads,
        broker=not args.no_broker,
    ).start()
    try:
        issue = {"id": "10001", "key": "DEMO-1", "typeId": "10002", "projectId": "10000"}
        auth = {"Authorization": f"JWT {stack.jira.context_token(issue)}"}
        base = stack.seed_checklist(auth)
        items = httpx.get(base, headers=auth, timeout=60).json()["items"]
        patch_bodies = [json.dumps({"status": status}) for status in ("done", "todo")]
        scenarios = {
            "limit": Scenario(stack.serve("bench.trivial:application") + "/"),
            "floor": Scenario(f"{stack.url}/healthz"),
            "read": Scenario(base, headers=auth),
            "patch": Scenario(
                f"{base}/items/{items[0]['id']}",
                method="PATCH",
                headers={**auth, "Content-Type": "application/json"},
                bodies=patch_bodies,
            ),
        }
        cpu = measure(
            stack.env,
            {
                "floor": {"method": "GET", "url": f"{stack.url}/healthz", "headers": {}},
                "read": {"method": "GET", "url": base, "headers": auth},
                "patch": {
                    "method": "PATCH",
                    "url": f"{base}/items/{items[1]['id']}",
                    "headers": {**auth, "Content-Type": "application/json"},
                    "bodies": patch_bodies,
                },
            },
            profile=args.profile or "",
        )
        print(
            f"in process, CPU per request (best of 5 x 300): floor {cpu['floor']:.0f} µs, read {cpu['read']:.0f} µs, "
            f"patch {cpu['patch']:.0f} µs"
        )
        if args.cpu_only:
            return
        results = interleaved(scenarios, seconds=args.seconds, rounds=args.rounds, connections=args.connections)
        peak = stack.peak_rss_mb()
        described = stack.describe()
    finally:
        stack.stop()

    print(
        f"bench/api: {described}, wrk with {args.connections} connections, {args.seconds:.0f}s per scenario in "
        f"{args.rounds} alternating rounds, database {'given' if args.database_url else 'SQLite'}, "
        f"broker {'off' if args.no_broker else 'on (Redis, 1 Celery worker)'}"
    )
    print("\n".join(table(results, base="floor")))
    for name in ("read", "patch"):
        print(f"  {name} / floor by round: {ratio_range(results[name].by_round(), results['floor'].by_round())}")
    print(f"  read / limit by round: {ratio_range(results['read'].by_round(), results['limit'].by_round())}")
    print(f"  peak web worker memory: {peak:.0f} MB")
    print(f"  {ceiling(cpu, results['limit'].rps)}")


def ceiling(cpu: dict[str, float], limit_rps: float) -> str:
    """What patch / floor could reach if the PATCH were bound by CPU alone (no wait for SQLite's one writer): each
    request costs its view's CPU (measured in process) plus what the server, the client and the kernel spend per
    request, taken from the trivial app's rate (every core busy for `limit_rps` requests a second)."""
    overhead = (os.cpu_count() or 1) * 1e6 / limit_rps  # µs of the machine's CPU per request, outside the view
    bound = (cpu["floor"] + overhead) / (cpu["patch"] + overhead)
    # The PATCH's CPU at which patch / floor would be 0.5, with the same overhead.
    needed = 2 * (cpu["floor"] + overhead) - overhead
    return (
        f"patch / floor bound by CPU alone: {bound:.2f} (about {overhead:.0f} µs per request outside the view); "
        f"0.5 would need a PATCH of at most {needed:.0f} µs in process, against {cpu['patch']:.0f}"
    )


if __name__ == "__main__":
    main()
