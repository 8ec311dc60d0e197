"""
bench/authz: what the permission check adds to one write, measured in-process (no web server, no database).

  cached    the answer is in the cache: one cache read (Redis when CACHE_URL is set, else per-process memory)
  uncached  a miss: one question to the stand-in Jira on 127.0.0.1 (Connect: POST permissions/check signed as the
            app; forge-app, the Forge panel's calls: the same as the app with the system token; forge-user: GET
            mypermissions with a user token, when one comes) and one cache write

A real Jira adds its own network latency to `uncached`; `cached` is what a write pays at most 5 minutes out of 5.

    CACHE_URL=redis://127.0.0.1:6379/13 python -m bench.authz
"""

import argparse
import statistics
import time
import uuid

from django.conf import settings

import bench.django_setup  # noqa: F401 (configures Django before our apps are imported)
from core import crypto
from devhost.jira import JiraStandIn
from tenants.auth import AuthContext, IssueRef
from tenants.models import Tenant
from tenants.permissions import require_edit


def _measure(fn, count: int) -> dict:
    times = []
    for n in range(count):
        start = time.perf_counter()
        fn(n)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50": statistics.median(times), "p90": times[int(0.9 * len(times))], "n": count}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uncached", type=int, default=300)
    parser.add_argument("--cached", type=int, default=5000)
    args = parser.parse_args()
    jira = JiraStandIn(app_key=settings.APP_KEY).start()
    jira.shared_secret = "bench-" + uuid.uuid4().hex
    tenant = Tenant(client_key=f"bench-{uuid.uuid4().hex[:8]}", base_url=jira.base_url)
    tenant.set_shared_secret(jira.shared_secret)
    issue = IssueRef(id="10001", project_id="10000")
    run = uuid.uuid4().hex[:8]  # fresh accounts each run: the first question of each is a real miss

    def connect(account: str) -> AuthContext:
        return AuthContext(tenant=tenant, account_id=account, source="panel", issue=issue)

    system_token = "bench-system-" + uuid.uuid4().hex
    jira.system_tokens.add(system_token)
    forge_site = Tenant(client_key=f"forge:bench-{uuid.uuid4().hex[:8]}", forge_api_base_url=jira.base_url)
    forge_site.forge_system_token_encrypted = crypto.encrypt(system_token)

    def forge_app(account: str) -> AuthContext:
        claims = {"app": {"apiBaseUrl": jira.base_url}}
        return AuthContext(tenant=forge_site, account_id=account, source="forge", issue=issue, forge_claims=claims)

    def forge_user(account: str) -> AuthContext:
        claims = {"app": {"apiBaseUrl": jira.base_url}}
        return AuthContext(
            tenant=tenant,
            account_id=account,
            source="forge",
            issue=issue,
            forge_claims=claims,
            user_token=jira.user_token(account),
        )

    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    print(f"cache: {backend}; stand-in Jira on {jira.base_url}")
    for door, make in (("connect", connect), ("forge-app", forge_app), ("forge-user", forge_user)):
        misses = [make(f"557058:{door}-{run}-{n}") for n in range(args.uncached)]
        uncached = _measure(lambda n, misses=misses: require_edit(misses[n], issue.id), args.uncached)
        hit = make(f"557058:{door}-{run}-hit")
        require_edit(hit, issue.id)
        cached = _measure(lambda n, hit=hit: require_edit(hit, issue.id), args.cached)
        for name, figures in (("uncached", uncached), ("cached", cached)):
            print(f"{door:10} {name:9} p50 {figures['p50']:.3f} ms  p90 {figures['p90']:.3f} ms  (n={figures['n']})")
    jira.stop()


if __name__ == "__main__":
    main()
