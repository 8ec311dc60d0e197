"""
bench/peer: the same JWT-authenticated checklist read (HS256 context JWT verified, tenant looked up, 20 items read
from storage) served by HeroChecklist (gunicorn, production settings) and by atlassian-connect-express (Node.js,
its own SQLite store), measured in the same run with the same client; prints our throughput divided by theirs.
Installs the peer's npm packages into bench/peer/node_modules on first use.
"""

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.api import server_arguments
from bench.load import Scenario, interleaved, ratio_range, table
from bench.stack import Stack, free_port

PEER = Path(__file__).resolve().parent / "peer"


def start_peer(*, client_key: str, secret: str, app_key: str) -> tuple[subprocess.Popen, str, Path]:
    if not (PEER / "node_modules" / "atlassian-connect-express").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER, check=True)
    work = Path(tempfile.mkdtemp(prefix="herochecklist-peer-"))
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "PEER_DIR": str(work),
        "CLIENT_KEY": client_key,
        "SHARED_SECRET": secret,
        "APP_KEY": app_key,
        "NODE_ENV": "production",
        "NODE_PATH": str(PEER / "node_modules"),
    }
    proc = subprocess.Popen(
        ["node", str(PEER / "app.js")], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the peer exited: {proc.stdout.read()}")
        try:
            httpx.get(url, timeout=1)
            return proc, url, work
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the peer did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    server_arguments(parser)
    args = parser.parse_args()

    stack = Stack(workers=args.workers, server=args.server, threads=args.threads).start()
    peer = work = None
    try:
        issue = {"id": "10001", "key": "DEMO-1", "typeId": "10002", "projectId": "10000"}
        token = stack.jira.context_token(issue)
        auth = {"Authorization": f"JWT {token}"}
        ours = stack.seed_checklist(auth)
        peer, peer_url, work = start_peer(
            client_key=stack.jira.client_key, secret=stack.jira.shared_secret, app_key=stack.jira.app_key
        )
        theirs = f"{peer_url}/api/v1/issues/10001/checklist"
        for url in (ours, theirs):
            response = httpx.get(url, headers=auth, timeout=60)
            assert response.status_code == 200 and len(response.json()["items"]) == 20, (url, response.text[:200])
            assert httpx.get(url, headers={"Authorization": "JWT forged"}, timeout=60).status_code in (400, 401)
        scenarios = {
            "limit": Scenario(stack.serve("bench.trivial:application") + "/"),
            "herochecklist": Scenario(ours, headers=auth),
            "ace": Scenario(theirs, headers=auth),
        }
        results = interleaved(scenarios, seconds=args.seconds, rounds=args.rounds, connections=args.connections)
        described = stack.describe()
    finally:
        if peer:
            peer.terminate()
            peer.wait(timeout=15)
        if work:
            shutil.rmtree(work, ignore_errors=True)
        stack.stop()
    print(
        f"bench/peer: authenticated 20-item checklist read, wrk with {args.connections} connections, "
        f"{args.seconds:.0f}s each in {args.rounds} alternating rounds; HeroChecklist on {described}, ACE on one "
        "Node process"
    )
    print("\n".join(table(results, base="ace")))
    ours, theirs, limit = (results[name].by_round() for name in ("herochecklist", "ace", "limit"))
    print(f"  HeroChecklist / ACE throughput: {results['herochecklist'].rps / results['ace'].rps:.2f}")
    print(f"  by round: {ratio_range(ours, theirs)}")
    print(f"  HeroChecklist / limit by round: {ratio_range(ours, limit)}")
    print(f"  ACE / limit by round: {ratio_range(theirs, limit)}")


if __name__ == "__main__":
    main()
