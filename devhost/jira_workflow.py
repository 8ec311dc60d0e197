"""The stand-in Jira's workflow (issue #18): one workflow whose "Done" transition carries our validator and
condition and whose "Reopen" carries our post function; issue creation, cloning and moving, each firing the webhook
the descriptor registers. Hooked into devhost/jira.py with a few lines.

The rules are evaluated here by their meaning (`evaluate`), not by parsing the Jira expression: this is a stand-in,
Jira's own evaluation is the real one. tests/checklists/test_workflow_rules.py runs the real expression text in
Node.js against the same properties and checks both agree."""

import html
import json
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from .keys import connect_token

PROPERTY = "herochecklist-progress"
STATUSES = ("To Do", "In Progress", "Done")
PENDING = "The checklist has changes that are not in Jira yet; try again in a moment."


def _plural(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


def evaluate(value, config: dict | None):
    """What our validator expression means: True, or the message Jira would show."""
    mode = (config or {}).get("mode", "required")
    if value is None:
        return "This issue has no checklist yet."
    if value.get("version") is None or value.get("pending") != "false":
        return PENDING
    if mode == "all":
        if value["total"] > 0 and value["done"] == value["total"]:
            return True
        return (
            "The checklist has no items."
            if value["total"] == 0
            else f"{_plural(value['total'] - value['done'], 'item')} not done"
        )
    if mode == "noBlocked":
        return True if value["blocked"] == 0 else f"{_plural(value['blocked'], 'item')} blocked"
    if mode == "section":
        open_ = (value.get("sections") or {}).get(config.get("section"))
        if open_ is None:
            return f"The checklist has no section {config.get('sectionName')}."
        return True if open_ == 0 else f"{_plural(open_, 'required item')} open in {config.get('sectionName')}"
    if value["complete"] == "true":
        return True
    return (
        "The checklist has no items."
        if value["total"] == 0
        else f"{_plural(value['mandatoryOpen'], 'required item')} open"
    )


class Workflow:
    """Per stand-in: the transitions (tests change their rules), each issue's status, the issues created here."""

    def __init__(self, server):
        self.server = server
        self.lock = threading.Lock()
        self.transitions = {
            "11": {"name": "Start", "from": "To Do", "to": "In Progress"},
            "31": {"name": "Done", "from": "In Progress", "to": "Done", "validator": {"mode": "required"}},
            "41": {"name": "Reopen", "from": "Done", "to": "To Do", "postFunction": {"action": "reset"}},
        }
        self.statuses: dict[str, str] = {}
        self.created: list[dict] = []
        self.next_id = 20001
        self.deliveries: list[tuple[str, int]] = []  # (event, the app's status): what the stand-in sent

    def status(self, issue_id: str) -> str:
        return self.statuses.get(issue_id, "In Progress")

    # --- transitions --------------------------------------------------------------------------------------------

    def available(self, issue_id: str) -> list[str]:
        """The transitions shown: from the issue's status, and whose condition (if any) holds."""
        value = self.server.property(issue_id, PROPERTY)
        return [
            tid
            for tid, t in self.transitions.items()
            if t["from"] == self.status(issue_id) and ("condition" not in t or evaluate(value, t["condition"]) is True)
        ]

    def transition(self, issue: dict, transition_id: str, account_id: str = "") -> tuple[int, str]:
        """(204, "") when done, (400, Jira's error message) when refused."""
        t = self.transitions.get(transition_id)
        if t is None or transition_id not in self.available(issue["id"]):
            return 400, "The transition is not available for this issue."
        if "validator" in t:
            verdict = evaluate(self.server.property(issue["id"], PROPERTY), t["validator"])
            if verdict is not True:
                return 400, verdict
        self.statuses[issue["id"]] = t["to"]
        if "postFunction" in t:
            body = {
                "configuration": {"value": json.dumps(t["postFunction"])},
                "issue": _issue_json(issue),
                "transition": {"transitionId": int(transition_id), "transitionName": t["name"], "to_status": t["to"]},
            }
            self._send("/workflow/post-function", body, "post function")
        return 204, ""

    # --- issues created, cloned, moved ----------------------------------------------------------------------------

    def create(self, summary: str, project_id: str = "10000", type_id: str = "10002", clone_of: dict | None = None):
        with self.lock:
            issue_id = str(self.next_id)
            self.next_id += 1
        issue = {
            "id": issue_id,
            "key": f"DEMO-{issue_id}",
            "summary": summary,
            "projectId": project_id,
            "typeId": type_id,
        }
        links = []
        if clone_of:
            links.append(
                {
                    "type": {"name": "Cloners", "inward": "is cloned by", "outward": "clones"},
                    "outwardIssue": {"id": clone_of["id"], "key": clone_of["key"]},
                }
            )
        self.created.append(issue)
        self.statuses[issue_id] = "To Do"
        self.fire("jira:issue_created", {"webhookEvent": "jira:issue_created", "issue": _issue_json(issue, links)})
        return issue

    def clone(self, source: dict) -> dict:
        return self.create(f"CLONE - {source['summary']}", source["projectId"], source["typeId"], clone_of=source)

    def move(self, issue: dict, *, project_id: str, type_id: str, key: str) -> None:
        issue.update(projectId=project_id, typeId=type_id, key=key)
        self.fire("jira:issue_updated", {"webhookEvent": "jira:issue_updated", "issue": _issue_json(issue)})

    def fire(self, event: str, body: dict) -> None:
        """A webhook the app's descriptor registers for `event`, signed as Jira signs it."""
        app = self.server.app_base_url
        descriptor = httpx.get(f"{app}/atlassian-connect.json", timeout=10).json()
        for hook in descriptor["modules"].get("webhooks", []):
            if hook["event"] == event:
                self._send(hook["url"], body, event)

    def _send(self, path: str, body: dict, label: str) -> int:
        server = self.server
        token = connect_token(
            secret=server.shared_secret,
            client_key=server.client_key,
            method="POST",
            path=urlsplit(path).path,
            query=parse_qsl(urlsplit(path).query),
            account_id=None,
        )
        response = httpx.post(
            f"{server.app_base_url}{path}", json=body, headers={"Authorization": f"JWT {token}"}, timeout=30
        )
        self.deliveries.append((label, response.status_code))
        return response.status_code


def _issue_json(issue: dict, links=()) -> dict:
    return {
        "id": issue["id"],
        "key": issue["key"],
        "fields": {
            "summary": issue.get("summary", ""),
            "project": {"id": issue["projectId"]},
            "issuetype": {"id": issue["typeId"]},
            "issuelinks": list(links),
        },
    }


# --- what devhost/jira.py calls -----------------------------------------------------------------------------------


def issues(server, demo: list[dict]) -> list[dict]:
    return [*demo, *server.workflow.created]


def handle(handler, method: str, parts, demo: list[dict]) -> bool:
    """The stand-in's workflow routes; False when the path is not one of them."""
    server, path = handler.server, parts.path
    flow: Workflow = server.workflow
    by_key = {i["key"]: i for i in issues(server, demo)}
    by_id = {i["id"]: i for i in issues(server, demo)}
    if method == "POST" and path.startswith("/rest/api/3/issue/") and path.endswith("/transitions"):
        issue = by_id.get(path.split("/")[5]) or by_key.get(path.split("/")[5])
        _, body = handler._body()
        tid = str(((body or {}).get("transition") or {}).get("id", "")) if isinstance(body, dict) else ""
        if issue is None:
            handler._json(404, {"errorMessages": ["no such issue"]})
            return True
        status, message = flow.transition(issue, tid)
        handler._json(400, {"errorMessages": [message]}) if status == 400 else handler._send(204)
        return True
    if method == "POST" and path.startswith("/_workflow/"):
        raw, _ = handler._body()
        form = dict(parse_qsl(raw.decode()))
        issue = by_key.get(form.get("issue", ""))
        action, note = path.removeprefix("/_workflow/"), ""
        if action == "create":
            issue = flow.create(form.get("summary") or "New issue")
        elif issue is not None and action == "transition":
            status, note = flow.transition(issue, form.get("transition", ""))
        elif issue is not None and action == "clone":
            issue = flow.clone(issue)
        elif issue is not None and action == "move":
            flow.move(issue, project_id="10100", type_id="10004", key=f"OPS-{issue['id']}")
        if issue is None:
            handler._send(404, b"no such issue", "text/plain")
            return True
        note = f"?{urlencode({'note': note})}" if note else ""
        handler._send(303, headers={"Location": f"/browse/{issue['key']}{note}"})
        return True
    return False


def issue_aside(server, issue: dict, note: str = "") -> str:
    """The workflow box on the stand-in's issue page: status, transitions, clone and move, the last refusal."""
    flow: Workflow = server.workflow
    buttons = "".join(
        f'<button name="transition" value="{tid}">{html.escape(flow.transitions[tid]["name"])}</button>'
        for tid in flow.available(issue["id"])
    )
    key = html.escape(issue["key"])
    hidden = f'<input type="hidden" name="issue" value="{key}">'
    refusal = f'<p role="alert" class="refused">{html.escape(note)}</p>' if note else ""
    return (
        f'<p>Status: <b id="status">{html.escape(flow.status(issue["id"]))}</b></p>{refusal}'
        f'<form method="post" action="/_workflow/transition">{hidden}{buttons}</form>'
        f'<form method="post" action="/_workflow/clone">{hidden}<button>Clone</button></form>'
        f'<form method="post" action="/_workflow/move">{hidden}'
        "<button>Move to project OPS as a Task</button></form>"
    )


CREATE_FORM = (
    '<form method="post" action="/_workflow/create"><label>New issue <input name="summary"></label>'
    "<button>Create</button></form>"
)
