"""
Another web process, for tests/tenants/test_cache_invalidation.py: the real Connect and panel front doors in a process
of its own, with its own tenant cache, against the test's database and cache Redis.

Reads one JSON request a line on stdin and answers one JSON line on stdout:
  {"door": "connect" | "panel", "token": ...} -> {"ok": bool, "tenant_queries": the tenant reads it took}
Its first line is {"ready": true}.
"""

import json
import sys


def main() -> None:
    import django

    django.setup()
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from tenants.auth import AuthError, verify_connect_jwt, verify_panel_token

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        ask = json.loads(line)
        with CaptureQueriesContext(connection) as queries:
            try:
                if ask["door"] == "connect":
                    verify_connect_jwt(ask["token"], RequestFactory().get("/"), allow_context_qsh=True)
                else:
                    verify_panel_token(ask["token"])
                answer: dict = {"ok": True}
            except AuthError:
                answer = {"ok": False}
        answer["tenant_queries"] = sum("tenants_tenant" in q["sql"] for q in queries.captured_queries)
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
