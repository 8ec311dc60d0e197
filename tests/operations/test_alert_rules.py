"""ops/: the alert rules, their unit tests, the Alertmanager routing and the Grafana dashboard, checked with the real
tools (promtool and amtool from Debian's prometheus and prometheus-alertmanager packages: `make monitoring-tools`,
part of `make test`). Nothing is skipped: a missing tool fails the test."""

import json
import os
import re
import shutil
import subprocess
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

from core.metrics import heartbeat_record
from devhost.redis import free_port
from operations.backup import backup_create
from tests.conftest import TOKEN, wait_for

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "prometheus" / "alerts.yml"
# Two files because promtool evaluates every rule at each step of a file's evaluation_interval: the tests over days
# step by 10 minutes (see alerts_long_test.yml), the rest by 1.
RULE_TESTS = [ROOT / "ops" / "prometheus" / name for name in ("alerts_test.yml", "alerts_long_test.yml")]
ALERTMANAGER = ROOT / "ops" / "alertmanager" / "alertmanager.yml"
ENTRYPOINT = ROOT / "ops" / "alertmanager" / "entrypoint.sh"
DASHBOARD = ROOT / "ops" / "grafana" / "herochecklist.json"
METRIC_NAME = re.compile(r"\b(herochecklist_[a-z0-9_]+)\b")


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is missing: `make monitoring-tools` (part of `make test`) installs it")
    return found


def run(*args, cwd=ROOT, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


# --- Prometheus rules ------------------------------------------------------------------------------------------------


def test_the_rules_pass_promtool_check():
    result = run(tool("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.slow(seconds=5)
def test_the_rules_pass_their_unit_tests():
    result = run(tool("promtool"), "test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS), result.stdout


def test_every_alert_is_tested_firing_and_quiet_and_carries_a_runbook():
    tests = [case for path in RULE_TESTS for case in yaml.safe_load(path.read_text())["tests"]]
    firing, quiet = set(), set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))
    for rule in alert_rules():
        assert rule["alert"] in firing, f"{rule['alert']} is never shown firing"
        assert rule["alert"] in quiet, f"{rule['alert']} is never shown quiet"
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert len(rule["annotations"]["runbook"]) > 60 and "First" in rule["annotations"]["runbook"]
        assert rule["annotations"]["summary"]


def test_the_issue_s_alerts_are_all_there():
    by_name = {rule["alert"]: rule for rule in alert_rules()}
    wanted = {
        "HerochecklistApdexServerLow": 'side="server"} < 0.85',
        "HerochecklistApdexClientLow": 'side="client"} < 0.85',
        "HerochecklistServerErrors": 'kind="server_error"',
        "Herochecklist404Spike": "offset 1h",
        "HerochecklistTaskFailures": 'outcome="failure"',
        "HerochecklistTaskRetries": 'outcome="retry"',
        "HerochecklistHubspotContactsFailing": 'state="failed"',
        "HerochecklistHubspotBacklog": "herochecklist_hubspot_backlog_oldest_seconds",
        "HerochecklistProgressPropertyLagging": "herochecklist_progress_sync_oldest_behind_seconds",
        "HerochecklistBackupTooOld": "26 * 3600",
        "HerochecklistWorkerMissing": 'role="worker"',
        "HerochecklistBeatMissing": 'role="beat"',
    }
    for name, fragment in wanted.items():
        assert fragment in by_name[name]["expr"], name
    for name in ("HerochecklistApdexServerLow", "HerochecklistApdexClientLow"):
        assert by_name[name]["for"] == "10m"


BROKEN = ("HerochecklistApdexServerLow:", "HerochecklistBackupTooOld:")


def test_the_unit_tests_catch_a_broken_rule(tmp_path):
    """The rule tests have teeth: with the Apdex threshold and the backup age loosened, promtool test fails."""
    broken = (
        RULES.read_text().replace('side="server"} < 0.85', 'side="server"} < 0.4').replace("26 * 3600", "36 * 3600")
    )
    (tmp_path / "alerts.yml").write_text(broken)
    # Only the two alerts' own tests: the others would pass and cost the run most of its time.
    for path in RULE_TESTS:
        document = yaml.safe_load(path.read_text())
        document["tests"] = [case for case in document["tests"] if case["name"].startswith(BROKEN)]
        (tmp_path / path.name).write_text(yaml.safe_dump(document, sort_keys=False))
    result = run(tool("promtool"), "test", "rules", *(path.name for path in RULE_TESTS), cwd=tmp_path)
    assert result.returncode != 0
    assert "HerochecklistApdexServerLow" in result.stdout + result.stderr
    assert "HerochecklistBackupTooOld" in result.stdout + result.stderr


# --- The dashboard ---------------------------------------------------------------------------------------------------


def test_the_dashboard_queries_are_valid_promql(tmp_path):
    exprs = dashboard_exprs()
    assert len(exprs) >= 20
    rules = [{"record": f"herochecklist:dashboard:query_{i}", "expr": expr} for i, expr in enumerate(exprs)]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(tool("promtool"), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_shows_what_the_issue_asks_for():
    dashboard = json.loads(DASHBOARD.read_text())
    text = "\n".join(dashboard_exprs())
    assert dashboard["uid"] == "herochecklist"
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for needed in (
        "herochecklist_user_apdex_total",  # Apdex, both sides (by side)
        "sum by (side)",
        "histogram_quantile(0.99",  # latency percentiles
        'side="client"',
        "herochecklist_http_requests_total",  # throughput
        "herochecklist_http_error_responses_total",  # errors
        "herochecklist_celery_queue_length",  # queue depth
        "herochecklist_progress_sync_oldest_behind_seconds",  # sync lag
    ):
        assert needed in text, needed


@pytest.mark.django_db
def test_rules_and_dashboard_use_only_metrics_the_app_exports(client, settings, test_redis_url, backup_dir):
    """Every herochecklist_* name in the rules and the dashboard appears on a real /metrics scrape, with every
    scrape-time source given something to report."""
    from prometheus_client.parser import text_string_to_metric_families

    settings.METRICS_TOKEN = TOKEN
    settings.CELERY_BROKER_URL = test_redis_url
    settings.CELERY_TASK_DEFAULT_QUEUE = f"test-queue-{uuid.uuid4().hex}"
    heartbeat_record("worker")
    heartbeat_record("beat")
    backup_create()
    assert client.get("/healthz").status_code == 200
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    exported = set()
    for family in text_string_to_metric_families(response.content.decode()):
        exported |= {sample.name for sample in family.samples}
        if family.type == "counter":
            exported.add(family.name + "_total")  # named even before its first increment
        if family.type == "histogram":
            exported |= {family.name + suffix for suffix in ("_bucket", "_count", "_sum")}
    used = set(METRIC_NAME.findall(RULES.read_text())) | set(METRIC_NAME.findall("\n".join(dashboard_exprs())))
    assert used, "no metric names found"
    assert used <= exported, sorted(used - exported)


# --- Alertmanager ----------------------------------------------------------------------------------------------------


def test_the_alertmanager_config_passes_amtool():
    result = run(tool("amtool"), "check-config", str(ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=critical", "alertname=HerochecklistWorkerMissing"], "oncall-pagerduty,team"),
        (["severity=warning", "alertname=HerochecklistTaskFailures"], "team"),
    ],
)
def test_critical_alerts_page_and_the_rest_go_to_the_team(labels, receivers):
    result = run(tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def test_every_alert_severity_has_a_route():
    for severity in {rule["labels"]["severity"] for rule in alert_rules()}:
        result = run(
            tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER}", f"severity={severity}"
        )
        assert result.returncode == 0
        assert "team" in result.stdout.strip().split(",")


def test_secrets_come_from_files_never_from_the_config_itself():
    config = yaml.safe_load(ALERTMANAGER.read_text())
    assert config["global"]["smtp_auth_password_file"]
    assert "smtp_auth_password" not in config["global"]
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    (pagerduty,) = receivers["oncall-pagerduty"]["pagerduty_configs"]
    assert pagerduty["routing_key_file"] and "routing_key" not in pagerduty and "service_key" not in pagerduty
    (slack,) = receivers["team"]["slack_configs"]
    assert slack["api_url_file"] and "api_url" not in slack


def test_the_entrypoint_writes_each_secret_from_the_environment_to_its_file(tmp_path):
    secrets = {
        "PAGERDUTY_ROUTING_KEY": "pd-key-" + uuid.uuid4().hex,
        "SLACK_WEBHOOK_URL": "https://hooks.slack.example/" + uuid.uuid4().hex,
        "SMTP_PASSWORD": "smtp-" + uuid.uuid4().hex,
    }
    folder = tmp_path / "secrets"
    # `env` stands in for Alertmanager: it prints the environment Alertmanager would get.
    env = {"PATH": os.environ["PATH"], "ALERTMANAGER_SECRETS_DIR": str(folder), "ALERTMANAGER_BIN": "env", **secrets}
    result = run(str(ENTRYPOINT), env=env)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(ALERTMANAGER.read_text())
    named = {
        "PAGERDUTY_ROUTING_KEY": config["receivers"][0]["pagerduty_configs"][0]["routing_key_file"],
        "SLACK_WEBHOOK_URL": config["receivers"][1]["slack_configs"][0]["api_url_file"],
        "SMTP_PASSWORD": config["global"]["smtp_auth_password_file"],
    }
    for variable, value in secrets.items():
        assert Path(named[variable]).parent == Path("/run/alertmanager-secrets")  # the entrypoint's default folder
        written = folder / Path(named[variable]).name  # the config's file name, in the folder chosen here
        assert written.read_text() == value
        assert written.stat().st_mode & 0o777 == 0o600
        assert value not in result.stdout  # the secrets are gone from Alertmanager's own environment


def test_the_entrypoint_refuses_to_start_without_a_secret(tmp_path):
    env = {"PATH": os.environ["PATH"], "ALERTMANAGER_SECRETS_DIR": str(tmp_path), "ALERTMANAGER_BIN": "true"}
    result = run(str(ENTRYPOINT), env={**env, "PAGERDUTY_ROUTING_KEY": "k", "SLACK_WEBHOOK_URL": "u"})
    assert result.returncode == 2
    assert "SMTP_PASSWORD is not set" in result.stderr


class _Receiver(BaseHTTPRequestHandler):
    """Stands in for PagerDuty's Events API and Slack's webhook: records what Alertmanager posts."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append((self.path, json.loads(body or b"{}")))
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "success"}')

    def log_message(self, *args):
        pass


def test_a_real_alertmanager_pages_pagerduty_with_the_key_from_the_environment(tmp_path, closed_port):
    """The shipped routing and secrets, run by Alertmanager itself through entrypoint.sh. Only the delivery endpoints
    (PagerDuty, Slack, the mail relay) point at stand-ins here, and the grouping wait is short."""
    binary = tool("prometheus-alertmanager") if shutil.which("prometheus-alertmanager") else tool("alertmanager")
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    receiver.received = []
    threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    stand_in = f"http://127.0.0.1:{receiver.server_address[1]}"
    secrets = tmp_path / "secrets"
    config = yaml.safe_load(ALERTMANAGER.read_text().replace("/run/alertmanager-secrets", str(secrets)))
    config["global"]["pagerduty_url"] = f"{stand_in}/pagerduty"
    config["global"]["smtp_smarthost"] = f"127.0.0.1:{closed_port}"
    config["route"]["group_wait"] = "1s"
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    routing_key = "pd-" + uuid.uuid4().hex
    env = {
        "PATH": os.environ["PATH"],
        "ALERTMANAGER_SECRETS_DIR": str(secrets),
        "ALERTMANAGER_BIN": binary,
        "PAGERDUTY_ROUTING_KEY": routing_key,
        "SLACK_WEBHOOK_URL": f"{stand_in}/slack",
        "SMTP_PASSWORD": "smtp-" + uuid.uuid4().hex,
    }
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            str(ENTRYPOINT),
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        api = f"http://127.0.0.1:{port}"

        def ready():
            try:
                return httpx.get(f"{api}/-/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(ready, 60), (tmp_path / "alertmanager.log").read_text()
        alerts = [
            {
                "labels": {"alertname": "HerochecklistWorkerMissing", "severity": "critical"},
                "annotations": {"summary": "No worker", "runbook": "Restart the worker."},
            },
            {
                "labels": {"alertname": "HerochecklistTaskRetries", "severity": "warning", "task": "t"},
                "annotations": {"summary": "Retries", "runbook": "Look at the service."},
            },
        ]
        assert httpx.post(f"{api}/api/v2/alerts", json=alerts, timeout=10).status_code == 200

        def delivered():
            paths = [path for path, _ in receiver.received]
            return paths.count("/slack") >= 2 and "/pagerduty" in paths

        assert wait_for(delivered, 60), receiver.received
        pages = [body for path, body in receiver.received if path == "/pagerduty"]
        assert len(pages) == 1  # the warning does not page
        assert pages[0]["routing_key"] == routing_key
        assert pages[0]["event_action"] == "trigger"
        assert pages[0]["payload"]["summary"] == "HerochecklistWorkerMissing: No worker"
        assert pages[0]["payload"]["custom_details"]["runbook"] == "Restart the worker."
        slack = [body for path, body in receiver.received if path == "/slack"]
        assert {message["attachments"][0]["title"] for message in slack} == {
            "[FIRING] HerochecklistWorkerMissing (critical)",
            "[FIRING] HerochecklistTaskRetries (warning)",
        }
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        receiver.shutdown()
        receiver.server_close()
