"""
bench/servers: the same authenticated 20-item read served by each web server setup at once (the same database, cache
and environment), driven by wrk in alternating rounds, so the setups are compared in the same run:

  gunicorn sync workers (one request per process at a time, a new connection per request), gunicorn gthread, and
  granian (Rust HTTP/1 with keep-alive, WSGI workers with blocking threads) at 2-4 workers and 2 threads.

Each setup also serves the trivial WSGI app (bench/trivial.py), its physical limit on this machine.
"""

import argparse

from bench.load import Scenario, interleaved, ratio_range, table
from bench.stack import Stack

SETUPS = {
    "gunicorn 4": ("gunicorn", 4, 1),
    "gunicorn 2x2": ("gunicorn", 2, 2),
    "granian 2x2": ("granian", 2, 2),
    "granian 3x2": ("granian", 3, 2),
    "granian 4x2": ("granian", 4, 2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10, help="per scenario, over all rounds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--setups", default=",".join(SETUPS), help="comma-separated names of " + ", ".join(SETUPS))
    parser.add_argument("--no-limit", action="store_true", help="skip the trivial app's rows")
    args = parser.parse_args()

    stack = Stack(workers=2, server="gunicorn", threads=1).start()
    try:
        issue = {"id": "10001", "key": "DEMO-1", "typeId": "10002", "projectId": "10000"}
        auth = {"Authorization": f"JWT {stack.jira.context_token(issue)}"}
        path = stack.seed_checklist(auth).removeprefix(stack.url)
        scenarios = {}
        for name in args.setups.split(","):
            server, workers, threads = SETUPS[name]
            url = stack.serve("herochecklist.wsgi:application", server=server, workers=workers, threads=threads)
            scenarios[name] = Scenario(url + path, headers=auth)
            if not args.no_limit:
                limit = stack.serve("bench.trivial:application", server=server, workers=workers, threads=threads)
                scenarios[f"{name} limit"] = Scenario(limit + "/")
        results = interleaved(scenarios, seconds=args.seconds, rounds=args.rounds, connections=args.connections)
    finally:
        stack.stop()
    print(
        f"bench/servers: authenticated 20-item read, wrk with {args.connections} connections, {args.seconds:.0f}s "
        f"each in {args.rounds} alternating rounds"
    )
    first = args.setups.split(",")[0]
    print("\n".join(table(results, base=first)))
    for name in args.setups.split(",")[1:]:
        print(f"  {name} / {first} by round: {ratio_range(results[name].by_round(), results[first].by_round())}")


if __name__ == "__main__":
    main()
