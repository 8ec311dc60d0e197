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
import json
import os
import sys
import time

from bench.inproc import _environ, measure_env

VARIANTS = ["before", "+edge", "+token", "+orjson", "+limit", "+grants"]
# settings.MIDDLEWARE as it was: the admin's middleware inline, on every path.
BEFORE_MIDDLEWARE = [
    "core.metrics.MetricsMiddleware",
    "core.middleware.RequestContextMiddleware",
    "core.middleware.ApiErrorMiddleware",
    "core.middleware.BodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.SecurityHeadersMiddleware",
    "core.middleware.ApiGZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "staff.otp.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]


def _child(spec: dict) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "herochecklist.settings"
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings
    from ninja.renderers import JSONRenderer

    import checklists.api as api_module
    from core import counters
    from core.fastjson import OrjsonRenderer
    from tenants import permissions
    from tenants.auth import tokens

    edge = WSGIHandler()
    with override_settings(MIDDLEWARE=BEFORE_MIDDLEWARE):
        whole = WSGIHandler()

    cached = (tokens._read_header, tokens._read_claims)
    uncached = (tokens._read_header.__wrapped__, tokens._read_claims.__wrapped__)
    memo = permissions._seen

    class NoMemo(dict):
        def __setitem__(self, key, value):
            pass

    def counted(key, *, limit, ttl_seconds):  # the limit before: one round trip per call
        count = counters.window_count(key, ttl_seconds=ttl_seconds)
        return count is None or count <= limit

    take = api_module.window_take

    def apply(variant: str):
        level = VARIANTS.index(variant)
        tokens._read_header, tokens._read_claims = cached if level >= 2 else uncached
        api_module.api.renderer = OrjsonRenderer() if level >= 3 else JSONRenderer()
        api_module.window_take = take if level >= 4 else counted
        permissions._seen = memo if level >= 5 else NoMemo()
        return edge if level >= 1 else whole

    def call(handler) -> None:
        statuses = []
        environ = _environ("GET", spec["url"], spec["headers"], b"")
        b"".join(handler(environ, lambda status, headers, exc_info=None: statuses.append(status)))
        if not statuses[0].startswith("200"):
            raise SystemExit(f"answered {statuses[0]}")

    best = dict.fromkeys(VARIANTS, float("inf"))
    for variant in VARIANTS:
        handler = apply(variant)
        for _ in range(40):
            call(handler)
    for _ in range(spec["rounds"]):
        for variant in VARIANTS:
            handler = apply(variant)
            started = time.process_time()
            for _ in range(spec["n"]):
                call(handler)
            best[variant] = min(best[variant], (time.process_time() - started) / spec["n"] * 1e6)
    print(json.dumps(best))


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
        best = measure_env(stack.env, "bench.ab", {"url": url, "headers": auth, "rounds": args.rounds, "n": args.n})
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
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(json.loads(sys.stdin.read()))
    else:
        main()
