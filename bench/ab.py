"""
bench/ab: what each change of issue #21's lean path saves on one authenticated 20-item read, measured in one process
in alternating rounds (so a busy shared machine's slow spells fall on every variant alike):

  before      every change below undone (the whole middleware list on /api/, the token parsed three times,
              json.dumps, a Redis round trip per call for the rate limit and another for Jira's cached answer)
  +edge       /api/ passes only the edge middleware (core/edge.py)
  +token      the token's header and claims parsed once (tenants/auth/tokens.py)
  +orjson     the answer encoded with orjson (core/fastjson.py)
  +limit      the rate limit taken in batches (core.counters.window_take)
  +grants     Jira's cached answer held in process (tenants/permissions.py)

Each variant adds its change to the one above. CPU time per read (time.process_time), best round of `--rounds`.
The stack (production settings, Redis cache and broker) comes from bench/stack.py; the read runs through the WSGI
handler directly.
"""

import argparse

from bench.inproc import measure_env

VARIANTS = ["before", "+edge", "+token", "+orjson", "+limit", "+grants"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("-n", type=int, default=150, help="reads per variant and round")
    args = parser.parse_args()
    from bench.stack import Stack

    stack = Stack(workers=1, server="gunicorn", threads=1).start()
    try:
        issue = {"id": "10001", "key": "DEMO-1", "typeId": "10002", "projectId": "10000"}
        auth = {"Authorization": f"JWT {stack.jira.context_token(issue)}"}
        url = stack.seed_checklist(auth)
        best = measure_env(
            stack.env, "bench.ab_child", {"url": url, "headers": auth, "rounds": args.rounds, "n": args.n}
        )
    finally:
        stack.stop()
    print(f"bench/ab: CPU µs per authenticated 20-item read in process, best of {args.rounds} alternating rounds")
    previous = None
    for variant in VARIANTS:
        saved = f"  saves {previous - best[variant]:5.0f} µs" if previous is not None else ""
        print(f"  {variant:8} {best[variant]:7.0f} µs{saved}")
        previous = best[variant]
    print(f"  all together: {best['before'] / best['+grants']:.2f}x less CPU per read")


if __name__ == "__main__":
    main()
