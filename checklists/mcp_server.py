"""
/mcp: a Model Context Protocol server (streamable HTTP, the official `mcp` SDK) for AI agents, with the site API
tokens of tenants/site_tokens.py. Tools: read a checklist, add items, set an item's status, apply a template; each
is the same function as the Automation call of that name (checklists/automation.py), so the rules, checks and
services are the ones every other write goes through.

How a WSGI app serves it: the SDK's stateless, JSON-response mode makes every POST self-contained (no session, no
stream, one JSON answer), so the view runs the SDK's own transport for that one request, in an event loop of its own
(anyio.run) inside the Django request. Authentication, the rate limit and the audit stay at our door, before the SDK
sees the body; the SDK runs our sync tools in worker threads (Django's ORM refuses to run inside an event loop).
No ASGI server, no second process, no session store to share between nodes.
"""

import contextvars
import logging
import re
import threading
import time

import anyio
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings

from core.counters import window_count
from core.db import CommitUnknown
from core.exceptions import Conflict, NotFound, ValidationFailed
from core.fastjson import dumps
from core.jsonbody import BadJson, loads
from core.metrics import DATABASE_UNAVAILABLE
from core.middleware import api_exception_response, dependency_unavailable
from tenants.auth import AuthContext, AuthError
from tenants.auth.site_token import verify_site_token
from tenants.permissions import PermissionDenied
from tenants.site_tokens import site_token_record_use

from . import automation, selectors, serializers
from .services import WriteOutcomeUnknown

logger = logging.getLogger(__name__)

_auth: contextvars.ContextVar[AuthContext] = contextvars.ContextVar("herochecklist_mcp_auth")
_TOOL_NAME = re.compile(r"[A-Za-z0-9_./-]{1,64}")

server = MCPServer(
    name="HeroChecklist",
    instructions="Checklists of Jira issues, named by issue key (e.g. DEMO-1). Items are named by id or exact text. "
    "Statuses: todo, in_progress, done, skipped, blocked.",
)


def _call(fn, *args):
    """Run one tool as the token of this request; our refusals become MCP tool errors the model can read."""
    try:
        return fn(_auth.get(), *args)
    except ValidationFailed as exc:
        body = exc.body()
        # errorCount is there only when more fields were wrong than the answer names; else every one is named.
        more = body.get("errorCount", len(body["fields"])) - len(body["fields"])
        reasons = "; ".join(f"{k}: {v}" for k, v in body["fields"].items()) + (f"; and {more} more" if more else "")
        raise ToolError("Invalid input: " + reasons) from None
    except NotFound as exc:
        raise ToolError(f"Not found: {exc}") from None
    except (PermissionDenied, Conflict) as exc:
        raise ToolError(str(getattr(exc, "message", exc))) from None
    except automation.JiraUnavailable:
        raise ToolError("Jira did not answer; try again shortly.") from None
    # What the API answers 503 for, said so to the agent too: the SDK turns any other exception into a bare "Error
    # executing tool", which reads as a failure to retry at once, and a retried add_items appends again.
    except (WriteOutcomeUnknown, CommitUnknown):
        raise ToolError(
            "The database did not confirm whether the change was saved. Read the checklist before retrying."
        ) from None
    except Exception as exc:
        if not dependency_unavailable(exc):
            raise
        DATABASE_UNAVAILABLE.inc()
        logger.error("database unavailable", exc_info=exc)
        raise ToolError("The service is temporarily unavailable; please retry.") from None


def _checklist(issue, checklist) -> dict:
    return serializers.checklist_json(checklist, issue, selectors.checklist_item_rows(checklist))


@server.tool()
def read_checklist(issue_key: str) -> dict:
    """The checklist of a Jira issue: items (id, text, status, mandatory, ...) and progress."""
    return _checklist(*_call(automation.checklist_read, issue_key))


@server.tool()
def add_items(issue_key: str, text: str) -> dict:
    """Append items to an issue's checklist: one item per line, plain lines or the text format ("- [ ] step",
    "- [x] done step", "## Header"). Returns the checklist."""
    return _checklist(*_call(automation.items_add, issue_key, text))


@server.tool()
def set_item_status(issue_key: str, item: str, status: str) -> dict:
    """Set the status (todo, in_progress, done, skipped, blocked) of one item, named by its id or exact text."""
    _, item_row = _call(automation.item_set_status, issue_key, item, status)
    return serializers.item_json(item_row)


@server.tool()
def apply_template(issue_key: str, template: str, mode: str = "append") -> dict:
    """Apply the site's template of this exact name to an issue's checklist, appending (default) or replacing."""
    return _checklist(*_call(automation.template_apply_by_name, issue_key, template, mode))


# --- the HTTP door ---------------------------------------------------------------------------------------------

_build_lock = threading.Lock()
# Django's ALLOWED_HOSTS already checks Host; and a request here carries a bearer token, never an ambient cookie, so
# the SDK's DNS-rebinding guard (meant for local servers) has nothing to add and would refuse our real host names.
_TRANSPORT = TransportSecuritySettings(enable_dns_rebinding_protection=False)


def _error(status: int, error: str, detail: str, **headers) -> JsonResponse:
    response = JsonResponse({"error": error, "detail": detail}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


# JSON-RPC's answer to a body that is not JSON (core.jsonbody), the same whatever was wrong with it.
PARSE_ERROR = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
_UNREADABLE = object()


def _message(body: bytes):
    try:
        return loads(body)
    except BadJson:
        return _UNREADABLE


def _action(message) -> str:
    """What the audit records of an MCP request: the JSON-RPC method, and the tool's name (never its arguments)."""
    if message is _UNREADABLE:
        return "mcp (unreadable)"
    if not isinstance(message, dict):
        return "mcp (batch or other)"
    method = message.get("method")
    name = (message.get("params") or {}).get("name") if isinstance(message.get("params"), dict) else None
    parts = [p for p in (method, name) if isinstance(p, str) and _TOOL_NAME.fullmatch(p)]
    return " ".join(["mcp", *parts])


def _limited(auth: AuthContext) -> bool:
    """The API's limit (AccountThrottle): per site and token, per clock minute, one budget with /api/v1."""
    count = window_count(f"throttle:{auth.tenant.id}:{auth.account_id}:{int(time.time() // 60)}", ttl_seconds=120)
    return count is not None and count > settings.API_RATE_LIMIT_PER_MINUTE


@csrf_exempt
def mcp_endpoint(request):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    try:
        if scheme != "Bearer":
            raise AuthError("no bearer token")
        auth = verify_site_token(token.strip())
    except AuthError as exc:
        logger.warning("authentication failed: %s", exc)
        return _error(401, "unauthorized", "Authentication failed.", **{"WWW-Authenticate": "Bearer"})
    if request.method != "POST":
        # Stateless JSON mode: no server-initiated stream (GET) and no session to end (DELETE).
        return _error(405, "method_not_allowed", "POST JSON-RPC messages here.", Allow="POST")
    try:
        body = request.body
    except RequestDataTooBig:
        return _error(413, "too_large", "The request body is over the limit.")
    message = _message(body)
    try:
        site_token_record_use(auth.site_token, _action(message))
        if _limited(auth):
            return _error(429, "rate_limited", "Too many requests; slow down.", **{"Retry-After": "60"})
        if message is _UNREADABLE:  # answered here: the SDK's own parse error quotes its parser
            return JsonResponse(PARSE_ERROR, status=400)
        _auth.set(auth)
        status, headers, content = anyio.run(_serve, request, body)
    except Exception as exc:  # JSON whatever failed (503 when the database is down), never Django's error page
        return api_exception_response(request, exc)
    response = HttpResponse(_without_validation_reports(status, content), status=status)
    for name, value in headers:
        if name.lower() not in ("content-length", "connection", "transfer-encoding"):
            response[name] = value
    return response


# The SDK's answers to a message or tool arguments its models refuse: pydantic's own report, with the library's
# version (its errors.pydantic.dev links), its model names and every value sent. Said here by field, as the API says
# it (checklists/api.py), and nothing else; the door's own parse error (PARSE_ERROR) is answered the same way.
_REPORT = b"validation error"
_TOOL_REPORT = re.compile(r"Error executing tool (?P<tool>[A-Za-z0-9_./-]{1,64}): \d+ validation errors? for ")
_REPORT_FIELD = re.compile(r"^(?P<field>\S[^\n]*)\n  (?P<message>[^\n\[]*)", re.MULTILINE)
_SHOULD = re.compile(r"^(?:Input|String|Value|List|Dictionary|Object) should ")
INVALID_MESSAGE = "Invalid request: not a JSON-RPC message"


def _without_validation_reports(status: int, content: bytes) -> bytes:
    if _REPORT not in content:  # the common answer, passed on untouched
        return content
    try:
        answer = loads(content)
    except BadJson:
        return content
    if not isinstance(answer, dict):
        return content
    error = answer.get("error")
    if status == 400 and isinstance(error, dict) and str(error.get("message", "")).startswith("Validation error"):
        error["message"] = INVALID_MESSAGE
        return dumps(answer)
    result = answer.get("result")
    texts = result.get("content") if isinstance(result, dict) and result.get("isError") else None
    for part in texts if isinstance(texts, list) else []:
        text = part.get("text") if isinstance(part, dict) else None
        match = _TOOL_REPORT.match(text) if isinstance(text, str) else None
        if match:
            fields = "; ".join(
                f"{m['field'].strip()}: {_SHOULD.sub('must ', m['message'].strip(), count=1)}"
                for m in _REPORT_FIELD.finditer(text, match.end())
                if not m["field"].startswith("For further information")
            )
            part["text"] = f"Error executing tool {match['tool']}: Invalid input: {fields or 'arguments'}"
    return dumps(answer)


async def _serve(request, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request through the SDK's stateless JSON transport: our ASGI scope in, the answer collected."""
    with _build_lock:
        # streamable_http_app() makes a fresh session manager (each may run once); take it under the lock so two
        # requests on two threads cannot swap managers.
        app = server.streamable_http_app(stateless_http=True, json_response=True, transport_security=_TRANSPORT)
        manager = server.session_manager
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https" if request.is_secure() else "http",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 80),
    }
    done = anyio.Event()
    sent = {"body": False}
    answer: dict = {"status": 500, "headers": [], "body": b""}

    async def receive():
        if not sent["body"]:
            sent["body"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")
            if not message.get("more_body"):
                done.set()

    async with manager.run():
        await app(scope, receive, send)
    return answer["status"], answer["headers"], answer["body"]
