"""
What /api/v1/openapi.json says about each operation: every status it can answer with the body's shape, the three
credentials, the text-mode body, and the constraints the services enforce (checklists/services/, textformat.py).

The request types here only describe: validation stays in the services, so the messages and rules have one home.
The schemathesis run in tests/test_api_schema.py holds the two together: a document looser or stricter than the
code fails it.
"""

from typing import Annotated, Any

from ninja import NinjaAPI, Schema
from pydantic import BeforeValidator, ConfigDict, Field, StrictInt, StrictStr, WithJsonSchema

from core.identifiers import ACCOUNT_ID

from .models import MAX_ISSUE_ID, MAX_ITEM_TEXT, MAX_ITEMS, MAX_TEMPLATE_NAME, MAX_TEMPLATES, ChangeAction, ItemStatus
from .selectors import MAX_HISTORY

# --- the patterns the services check, written once --------------------------------------------------------------

ISSUE_ID_PATTERN = r"^[0-9]{1,20}$"
JIRA_ID_PATTERN = r"^[0-9]{1," + str(MAX_ISSUE_ID) + r"}$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# One line: no line breaks or control characters (a tab counts as a space), and something besides white space.
_LINE_CHAR = r"[^\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]"
_VISIBLE_CHAR = r"[^\s\x00-\x1f\x7f-\x9f\u2028\u2029]"
ITEM_TEXT_PATTERN = rf"^{_LINE_CHAR}*{_VISIBLE_CHAR}{_LINE_CHAR}*$"
# A template name or text: something besides white space.
NAME_PATTERN = r"\S"
IF_MATCH_PATTERN = r'^(W/)?("[0-9]{1,12}"|[0-9]{1,12})$'
STATUSES = list(ItemStatus.values)


def _described(schema: dict, description: str) -> dict:
    return {**schema, "description": description}


ItemText = Annotated[
    StrictStr,
    WithJsonSchema(
        _described(
            {"type": "string", "minLength": 1, "maxLength": MAX_ITEM_TEXT, "pattern": ITEM_TEXT_PATTERN},
            f"One line of at most {MAX_ITEM_TEXT} characters (surrounding white space is trimmed), no control "
            "characters. Markdown-lite: **bold**, _italic_, `code`, [links](https://...).",
        )
    ),
]
ItemStatusText = Annotated[StrictStr, WithJsonSchema({"type": "string", "enum": STATUSES})]
AccountId = Annotated[
    StrictStr,
    WithJsonSchema(
        _described(
            {"type": "string", "pattern": "^" + ACCOUNT_ID.pattern.replace("{1,", "{0,") + "$"},
            "An Atlassian accountId; empty or null clears the assignee.",
        )
    ),
]
DueDate = Annotated[
    StrictStr,
    WithJsonSchema(
        _described({"type": "string", "format": "date", "pattern": DATE_PATTERN}, "YYYY-MM-DD; null clears it.")
    ),
]


def _whole_number(value):
    # JSON Schema (and JavaScript) count 3.0 as the integer 3; so do we. "3" and true stay errors.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Position = Annotated[StrictInt, BeforeValidator(_whole_number), WithJsonSchema({"type": "integer", "minimum": 0})]
ItemId = Annotated[StrictStr, WithJsonSchema({"type": "string", "format": "uuid", "pattern": UUID_PATTERN})]
TemplateName = Annotated[
    StrictStr,
    WithJsonSchema(
        _described(
            {"type": "string", "minLength": 1, "maxLength": MAX_TEMPLATE_NAME, "pattern": NAME_PATTERN},
            "Surrounding white space is trimmed.",
        )
    ),
]
ChecklistText = Annotated[
    StrictStr,
    WithJsonSchema(
        _described(
            {"type": "string", "minLength": 1, "pattern": NAME_PATTERN},
            f"The checklist text format (see the text endpoints), at least one and at most {MAX_ITEMS} items.",
        )
    ),
]
JiraId = Annotated[
    StrictStr,
    WithJsonSchema(
        _described({"type": "string", "pattern": r"^$|" + JIRA_ID_PATTERN}, "A numeric Jira id; empty or null: any.")
    ),
]
IssueId = Annotated[str, WithJsonSchema({"type": "string", "pattern": ISSUE_ID_PATTERN})]
ISSUE_KEY_PATTERN = r"^[A-Z][A-Z0-9_]{0,30}-[0-9]{1,12}$"
IssueKey = Annotated[str, WithJsonSchema(_described({"type": "string", "pattern": ISSUE_KEY_PATTERN}, "e.g. DEMO-1"))]
ItemRef = Annotated[
    StrictStr,
    WithJsonSchema(
        _described(
            {"type": "string", "minLength": 1, "maxLength": MAX_ITEM_TEXT, "pattern": NAME_PATTERN},
            "The item's id, or its exact text (surrounding white space aside).",
        )
    ),
]
PathItemId = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]
HistoryLimit = Annotated[
    int, WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_HISTORY, "description": "Newest first."})
]
ApplyMode = Annotated[StrictStr, WithJsonSchema({"type": "string", "enum": ["append", "replace"]})]


# --- responses ---------------------------------------------------------------------------------------------------


class _Open(Schema):
    # Documentation of what the views build (selectors.py); a field added there is passed through, never dropped.
    model_config = ConfigDict(extra="allow")


Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Uuid = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]
Count = Annotated[int, Field(ge=0)]


class ItemOut(_Open):
    id: Uuid
    text: str
    textHtml: str = Field(description="The text rendered as safe HTML.")  # noqa: N815 (contract field names)
    status: Annotated[str, WithJsonSchema({"type": "string", "enum": STATUSES})]
    isHeader: bool  # noqa: N815
    mandatory: bool
    assigneeAccountId: str | None  # noqa: N815
    dueDate: Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "date"})]  # noqa: N815
    visibleToCustomer: bool = Field(False, description="Shown read-only on the Jira Service Management portal.")  # noqa: N815
    position: Count
    createdAt: Timestamp  # noqa: N815
    updatedAt: Timestamp  # noqa: N815


class ProgressOut(_Open):
    done: Count
    total: Count = Field(description="Items without headers.")
    mandatoryOpen: Count  # noqa: N815
    percent: Annotated[int, Field(ge=0, le=100)]
    complete: bool


class ChecklistOut(_Open):
    issueId: Annotated[str, WithJsonSchema({"type": "string", "pattern": ISSUE_ID_PATTERN})]  # noqa: N815
    issueKey: str  # noqa: N815
    projectId: str  # noqa: N815
    issueTypeId: str  # noqa: N815
    version: Count = Field(description="Grows by one with every write; 0 before the first. Also the ETag.")
    items: Annotated[list[ItemOut], Field(max_length=MAX_ITEMS)]
    progress: ProgressOut


class TemplateOut(_Open):
    id: Uuid
    name: Annotated[str, Field(min_length=1, max_length=MAX_TEMPLATE_NAME)]
    text: str
    projectId: str | None  # noqa: N815
    issueTypeId: str | None  # noqa: N815
    autoApply: bool  # noqa: N815
    createdAt: Timestamp  # noqa: N815
    updatedAt: Timestamp  # noqa: N815


class ChangeOut(_Open):
    id: Uuid
    version: Annotated[int, Field(ge=1)]
    action: Annotated[str, WithJsonSchema({"type": "string", "enum": list(ChangeAction.values)})]
    actorAccountId: str | None  # noqa: N815
    itemId: Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "uuid"})]  # noqa: N815
    source: str
    changes: dict[str, Any] = Field(description="Each changed field with its value before and after.")
    createdAt: Timestamp  # noqa: N815


TemplateList = Annotated[list[TemplateOut], Field(max_length=MAX_TEMPLATES)]
History = Annotated[list[ChangeOut], Field(max_length=MAX_HISTORY)]


class ErrorOut(_Open):
    """Every error: a machine-readable `error`, and what went wrong in words or per field."""

    error: str
    detail: str | None = None


class ValidationErrorOut(_Open):
    error: Annotated[str, WithJsonSchema({"type": "string", "enum": ["validation_failed"]})]
    fields: dict[str, str] = Field(description="Each bad field (or header, or `line N` of a text) and why.")


class ConflictOut(_Open):
    error: Annotated[str, WithJsonSchema({"type": "string", "enum": ["conflict", "precondition_failed"]})]
    detail: str
    currentVersion: Count | None = None  # noqa: N815


# --- which statuses each kind of operation answers ---------------------------------------------------------------

_ANY = {
    401: ErrorOut,  # no valid credential
    403: ErrorOut,  # a credential bound to another issue, or no Jira permission for this
    429: ErrorOut,  # rate limited (Retry-After)
    503: ErrorOut,  # the database or another dependency is down
}
_BODY = {
    400: ErrorOut | ValidationErrorOut,  # not JSON, not UTF-8, a malformed If-Match
    411: ErrorOut,  # a body without a length the server can enforce the limit on
    413: ErrorOut,  # over DATA_UPLOAD_MAX_MEMORY_SIZE
    415: ErrorOut | ValidationErrorOut,  # not the declared Content-Type
    422: ValidationErrorOut,
}
_WRITE = {**_BODY, 404: ErrorOut, 409: ConflictOut, 412: ConflictOut}


def responses(success: dict, *, body: bool = False, write: bool = False, found: bool = True) -> dict:
    """The response map of one operation: its success, and the errors its kind can give."""
    result = {**_ANY}
    if found:
        result[404] = ErrorOut
    if body:
        result.update(_BODY)
    if write:
        result.update(_WRITE)
    result.update(success)
    return dict(sorted(result.items()))


def if_match(operation: dict | None = None) -> dict:
    """openapi_extra for a checklist write: the optional If-Match header."""
    return {
        **(operation or {}),
        "parameters": [
            {
                "in": "header",
                "name": "If-Match",
                "required": False,
                "description": "The checklist version this write was based on; another version answers 412.",
                "schema": {"type": "string", "pattern": IF_MATCH_PATTERN},
            }
        ],
    }


TEXT_BODY = {
    "requestBody": {
        "required": False,
        "description": "The whole checklist in the text format; it replaces the items, keeping the ids of lines "
        "that continue. Blank lines are ignored; an empty body empties the checklist.",
        "content": {
            "text/plain": {
                "schema": {"type": "string", "description": f"At most {MAX_ITEMS} items, in UTF-8."},
                "example": "## Release\n- [ ] write notes\n- [x] tag {due:2026-12-01}\n- [ ]? polish\n",
            }
        },
    }
}
TEXT_RESPONSE = {
    "responses": {
        200: {  # ninja's own key type, so this merges into its entry
            "description": "The checklist in the text format; the ETag is its version.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    }
}

SECURITY_SCHEMES = {
    "panelToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The short-lived panel token of /connect/panel (its page's herochecklist-token meta tag), "
        "bound to one site, user and issue.",
    },
    "connectJwt": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Authorization: JWT <token>`: an Atlassian Connect context JWT (HS256 with the site's shared "
        "secret, qsh `context-qsh`).",
    },
    "forgeInvocationToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A Forge Invocation Token (RS256, iss forge/invocation-token, aud FORGE_APP_ID) from the "
        "HeroChecklist Forge app.",
    },
    "siteToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A site API token (`hc_…`) from the app's admin page: acts as the app on its site, read or "
        "read-write by its scope (Jira Automation, scripts, AI agents). Cannot manage tokens.",
    },
}
SECURITY = [{name: []} for name in SECURITY_SCHEMES]
ETAG = {
    "description": "The checklist's version after this request, quoted: what If-Match takes.",
    "required": True,
    "schema": {"type": "string", "pattern": r'^(W/)?"[0-9]{1,12}"$'},
}


class ContractAPI(NinjaAPI):
    """NinjaAPI whose document also carries what ninja cannot see: our three credentials (one auth callable checks
    them all) and the limits."""

    def get_openapi_schema(self, *args, **kwargs):
        document = super().get_openapi_schema(*args, **kwargs)
        document.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        document["info"]["description"] = (
            f"HeroChecklist /api/v1. A checklist holds at most {MAX_ITEMS} items, a site at most {MAX_TEMPLATES} "
            "templates. Every error is JSON with an `error` code."
        )
        for path, operations in document["paths"].items():
            for operation in operations.values():
                operation["security"] = SECURITY
                if "/checklist" in path and not path.endswith("/history"):
                    for status in (200, 201, 204):
                        if status in operation["responses"]:
                            operation["responses"][status]["headers"] = {"ETag": ETAG}
        return document
