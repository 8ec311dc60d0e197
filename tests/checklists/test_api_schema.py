"""
/api/v1/openapi.json against the live app: schemathesis (its CLI, in its own process) generates requests from the
document, sends them to a real server on a free port, and runs every check it has on each answer. Any 5xx, any
status or body the document does not declare, valid input refused or invalid input taken fails the test.
"""

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checklists import serializers
from checklists.models import MAX_ITEM_TEXT, MAX_ITEMS, MAX_TEMPLATES, ItemStatus
from devhost.keys import connect_token
from tenants.qsh import CONTEXT_QSH

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
VAR = Path(__file__).resolve().parents[2] / "var"
LOG = VAR / f"schemathesis-{os.environ.get('TEST_DATABASE_LABEL', 'db')}.log"
# Hypothesis keeps the Unicode tables it builds (the characters UTF-8 can encode: a walk over all 1.1 million code
# points, 1.8 s of CPU) in its storage directory, by default .hypothesis/ in the working directory: each run's own
# tmp_path, so every run of the suite built them again, four times. Kept in var/ they are built once per checkout
# (written atomically, so the two halves at once can both write them). The deterministic runs keep no examples there.
HYPOTHESIS_STORAGE = VAR / "hypothesis"
# Per operation and phase. The fuzzing depth is the SQLite half's (40); the MongoDB half runs the same operations,
# phases and checks over the other storage with 10 (2,240 cases there took 45 s of CPU, the longest test of the suite;
# 10 still generate over 1,300).
MAX_EXAMPLES = int(
    os.environ.get("SCHEMATHESIS_MAX_EXAMPLES") or (10 if os.environ.get("TEST_DATABASE_LABEL") == "mongodb" else 40)
)
# The suite always runs the same derandomized cases; set a seed to explore others locally (then fix what they find).
EXPLORE_SEED = os.environ.get("SCHEMATHESIS_SEED", "")


# Valid input the app still refuses, and rightly: what no schema can say, because it depends on the stored data.
# A stale If-Match is 412 everywhere (409 is already allowed); 422 where the request must fit the stored checklist (an
# order is a permutation of its items; at most MAX_ITEMS items, MAX_TEMPLATES templates) or is in the checklist
# text format, whose line grammar (a box from a fixed set, a header with text, a valid due date) is no JSON Schema.
ACCEPTED = ["2xx", "401", "403", "404", "409", "412", "429"]
# Invalid input may also meet a refusal that comes first: a stale If-Match, a body over the limit or without a length.
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "411", "412", "413", "415", "422", "428", "429"]
ALSO_422 = [
    "PUT /api/v1/issues/{issue_id}/checklist/text",
    "PUT /api/v1/issues/{issue_id}/checklist/order",
    "POST /api/v1/issues/{issue_id}/checklist/items",
    "POST /api/v1/issues/{issue_id}/checklist/apply-template",
    "POST /api/v1/templates",
    "PATCH /api/v1/templates/{template_id}",
    # A status is one of the five or a key the site defined: which keys exist is stored data.
    "PATCH /api/v1/issues/{issue_id}/checklist/items/{item_id}",
    "POST /api/v1/statuses",
    "DELETE /api/v1/statuses/{key}",
    "POST /api/v1/automation/issues/{issue_key}/items",
    "POST /api/v1/automation/issues/{issue_key}/items/status",
    "POST /api/v1/automation/issues/{issue_key}/apply-template",
    "POST /api/v1/site-tokens",
]


# A conditional read (If-None-Match naming the current version, or *) is answered 304: a success without a body.
ALSO_304 = ["GET /api/v1/issues/{issue_id}/checklist"]


def config_toml() -> str:
    lines = [
        "[checks.positive_data_acceptance]",
        f"expected-statuses = {json.dumps(ACCEPTED)}",
        "[checks.negative_data_rejection]",
        f"expected-statuses = {json.dumps(REJECTED)}",
        "",
    ]
    for name, also in [*((name, "422") for name in ALSO_422), *((name, "304") for name in ALSO_304)]:
        lines += [
            "[[operations]]",
            f"include-name = {json.dumps(name)}",
            f"checks.positive_data_acceptance.expected-statuses = {json.dumps([*ACCEPTED, also])}",
            "",
        ]
    return "\n".join(lines)


def run_schemathesis(base_url: str, authorization: str, workdir: Path, *extra: str, max_examples: int = MAX_EXAMPLES):
    """schemathesis run with every check, deterministic data, one worker. Returns (process, JSON report, figures)."""
    report = workdir / "report.json"
    config = workdir / "schemathesis.toml"
    config.write_text(config_toml())
    command = [
        SCHEMATHESIS,
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{base_url}/api/v1/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(max_examples),
        *(["--seed", EXPLORE_SEED] if EXPLORE_SEED else ["--generation-deterministic"]),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--header",
        f"Authorization: {authorization}",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--output-truncate",
        "false",
        *extra,
    ]
    started, server_cpu = time.monotonic(), time.process_time()
    client_cpu = _children_cpu()
    env = {**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": str(HYPOTHESIS_STORAGE)}
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    figures = (
        f"wall {time.monotonic() - started:.1f}s, CPU: schemathesis {_children_cpu() - client_cpu:.1f}s, "
        f"app server {time.process_time() - server_cpu:.1f}s"
    )
    return result, json.loads(report.read_text()) if report.exists() else {}, figures


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.fixture
def authorization(tenant, standin, settings):
    """A Connect context JWT of the test site, not bound to an issue (so every issue id is in reach), valid for the
    whole run. The fuzzer is one user sending far more than a person would: no rate limit for it. It is a Jira admin
    in the stand-in, so every operation (template changes too) is in reach of the generated requests."""
    settings.API_RATE_LIMIT_PER_MINUTE = 1_000_000
    standin.grant("557058:fuzzer", "admin")
    token = connect_token(
        secret=standin.shared_secret,
        client_key=tenant.client_key,
        account_id="557058:fuzzer",
        qsh=CONTEXT_QSH,
        ttl=3600,
    )
    return f"JWT {token}"


@pytest.mark.slow(seconds=57)
def test_the_live_api_conforms_to_its_document(live_server, authorization, tmp_path):
    result, report, figures = run_schemathesis(live_server.url, authorization, tmp_path)
    cases = report["test_cases"]
    LOG.parent.mkdir(exist_ok=True)
    LOG.write_text(f"{result.stdout}{result.stderr}\n{cases}\n{figures}\n")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert report["operations"]["tested"] == report["operations"]["total"] == 29  # the contract's 14 and #17/#18's
    assert cases["generated"] - cases["without_checks"] >= 1000, cases
    # The credential worked: most operations answered 2xx to a good share of the valid requests.
    accepted = sum(rate["accepted"] for phases in report["valid_rates"].values() for rate in phases.values())
    assert accepted >= 5 * MAX_EXAMPLES, report["valid_rates"]  # 200 of the SQLite half's, 157 of 1,359 measured at 10


def test_the_run_fails_when_the_app_answers_500(live_server, authorization, tmp_path, monkeypatch):
    """The harness is not blind: the same run against an app whose checklist read breaks reports it."""

    def broken(checklist, issue):
        raise RuntimeError("deliberate fault for the schemathesis harness")

    monkeypatch.setattr(serializers, "checklist_json", broken)
    result, report, _ = run_schemathesis(
        live_server.url,
        authorization,
        tmp_path,
        "--include-name",
        "GET /api/v1/issues/{issue_id}/checklist",
        "--phases",
        "coverage",
        max_examples=5,
    )
    assert result.returncode != 0
    assert "ST101" in [f["code"] for f in report["failures"]], report["failures"]
    assert "Server error" in result.stdout
    # Hypothesis kept its Unicode tables in var/ for the next run, not in this run's directory.
    assert list(HYPOTHESIS_STORAGE.glob("unicode_data/*/codec-*")) and not (tmp_path / ".hypothesis").exists()


def test_the_document_declares_statuses_credentials_and_limits(client):
    document = client.get("/api/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert {
        name: scheme.get("scheme", scheme.get("name"))
        for name, scheme in document["components"]["securitySchemes"].items()
    } == {
        "panelToken": "bearer",
        "connectJwt": "Authorization",
        "forgeInvocationToken": "bearer",
        "siteToken": "bearer",
    }
    operations = [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]
    # The contract's 14; /settings/workflow (2), site tokens and Automation (8) of #18; the template manager's 5 (#17).
    assert len(operations) == 29
    for path, method, op in operations:
        statuses = set(op["responses"])
        assert {"401", "403", "429", "503"} <= statuses, (method, path)
        assert op["security"] == [
            {"panelToken": []},
            {"connectJwt": []},
            {"forgeInvocationToken": []},
            {"siteToken": []},
        ]
        errors = {status: response for status, response in op["responses"].items() if status[0] in "45"}
        assert all(set(response["content"]) == {"application/json"} for response in errors.values()), (method, path)
    # Each kind of operation is checked for what it must declare; the counts keep a check from passing on none.
    with_body = [(path, method, op) for path, method, op in operations if "requestBody" in op]
    assert len(with_body) == 14
    for path, method, op in with_body:
        assert {"400", "411", "413", "415", "422"} <= set(op["responses"]), (method, path)
    issue_writes = [(p, m, op) for p, m, op in operations if p.startswith("/api/v1/issues/") and m != "get"]
    assert len(issue_writes) == 6
    for path, method, op in issue_writes:
        assert {"404", "409", "412"} <= set(op["responses"]), (method, path)
        assert [p["name"] for p in op["parameters"] if p["in"] == "header"] == ["If-Match"]
    on_an_issue = [op for path, _method, op in operations if "{issue_id}" in path]
    assert len(on_an_issue) == 9
    for op in on_an_issue:
        issue_id = next(p for p in op["parameters"] if p["name"] == "issue_id")
        assert issue_id["schema"]["pattern"] == "^[0-9]{1,20}$"
    versioned = [(p, m, op) for p, m, op in operations if "/checklist" in p and not p.endswith("/history")]
    assert len(versioned) == 9  # with the portal's read
    for path, method, op in versioned:
        success = next(status for status in op["responses"] if status.startswith("2"))
        assert op["responses"][success]["headers"]["ETag"]["required"] is True, (method, path)
    text = document["paths"]["/api/v1/issues/{issue_id}/checklist/text"]
    assert set(text["put"]["requestBody"]["content"]) == {"text/plain"}
    assert set(text["get"]["responses"]["200"]["content"]) == {"text/plain"}
    item = schemas["ItemCreateIn"]["properties"]
    assert item["text"]["maxLength"] == MAX_ITEM_TEXT and item["text"]["minLength"] == 1
    # One of the five, or the key of a status the site defined.
    assert (
        item["status"]["anyOf"][0]["enum"]
        == list(ItemStatus.values)
        == schemas["ItemOut"]["properties"]["status"]["anyOf"][0]["enum"]
    )
    assert schemas["ItemOut"]["properties"]["status"]["anyOf"][1]["pattern"] == "^[a-z][a-z0-9_]{1,15}$"
    assert item["dueDate"]["anyOf"][0]["format"] == "date"
    assert schemas["ItemCreateIn"]["additionalProperties"] is False
    assert schemas["ChecklistOut"]["properties"]["items"]["maxItems"] == MAX_ITEMS
    template_list = document["paths"]["/api/v1/templates"]["get"]["responses"]["200"]["content"]["application/json"]
    assert template_list["schema"]["maxItems"] == MAX_TEMPLATES
    assert schemas["ConflictOut"]["properties"]["currentVersion"]["anyOf"][0]["type"] == "integer"


def test_no_op_writes_on_an_issue_without_a_checklist_answer_the_empty_checklist(api):
    """Found by schemathesis: an empty text PUT (or an empty order) on an issue that never had a checklist was a 500,
    the rolled-back checklist looked up after its own rollback."""
    for response in (api.put_text(""), api.call("put", api.url("/order"), {"itemIds": []})):
        assert response.status_code == 200, response.content
        assert response.json()["items"] == [] and response.json()["version"] == 0
        assert response["ETag"] == '"0"'
    assert api.get("/history").json() == []


def test_a_position_written_as_a_whole_float_is_that_position(api):
    """Found by schemathesis: JSON Schema's integer includes 2.0, which the API refused (422)."""
    first = api.add("first").json()
    second = api.add("second", position=0.0)
    assert second.status_code == 201, second.content
    assert second.json()["position"] == 0
    assert api.patch(first["id"], position=0.0).json()["position"] == 0
    for bad in (0.5, "1", True):
        response = api.patch(first["id"], position=bad)
        assert response.status_code == 422 and "position" in response.json()["fields"], (bad, response.content)


@pytest.mark.parametrize("due", ["2026-W01-1", "2026-001", "20261201", "２０２６-１２-０１"])
def test_a_due_date_is_only_year_month_day(api, due):
    """The document says YYYY-MM-DD; Python's date parser also reads week dates of the same length."""
    item = api.add("x").json()
    response = api.patch(item["id"], dueDate=due)
    assert response.status_code == 422 and "dueDate" in response.json()["fields"], response.content
    assert api.patch(item["id"], dueDate="2026-12-01").json()["dueDate"] == "2026-12-01"
