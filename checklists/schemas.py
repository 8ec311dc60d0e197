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

from .models import (
    MAX_ISSUE_ID,
    MAX_ITEM_TEXT,
    MAX_ITEMS,
    MAX_PROJECT_TEMPLATES,
    MAX_SITE_STATUSES,
    MAX_STATUS_KEY,
    MAX_STATUS_NAME,
    MAX_TEMPLATE_NAME,
    MAX_TEMPLATES,
    ChangeAction,
    ItemStatus,
)
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
# A PATCH or DELETE of one item may instead be conditional on that item alone (checklists/preconditions.py).
ITEM_IF_MATCH_PATTERN = (
    r'^(W/)?("[0-9]{1,12}"|[0-9]{1,12}|"item-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
    r'[0-9a-fA-F]{12}-[0-9]{1,12}")$'
)
STATUSES = list(ItemStatus.values)
STATUS_KEY_PATTERN = r"^[a-z][a-z0-9_]{1," + str(MAX_STATUS_KEY - 1) + r"}$"
COLOR_PATTERN = r"^#[0-9a-fA-F]{6}$"
# An item's status: one of the five, or the key of a status the site defined (GET /statuses); a key the site has not
# defined is refused (422), which no schema can know.
_ANY_STATUS = {
    "anyOf": [
        {"type": "string", "enum": STATUSES},
        {"type": "string", "pattern": STATUS_KEY_PATTERN, "description": "The key of one of the site's statuses."},
    ]
}


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
ItemStatusText = Annotated[StrictStr, WithJsonSchema(_ANY_STATUS)]
StatusKey = Annotated[
    StrictStr,
    WithJsonSchema(
        _described(
            {"type": "string", "pattern": STATUS_KEY_PATTERN},
            "Lowercase letters, digits and _, a letter first; not a built-in status. Text mode writes `- [key] text`.",
        )
    ),
]
StatusName = Annotated[
    StrictStr,
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_STATUS_NAME, "pattern": ITEM_TEXT_PATTERN}),
]
Color = Annotated[StrictStr, WithJsonSchema({"type": "string", "pattern": COLOR_PATTERN})]
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
    # Documentation of what the views build (serializers.py); a field added there is passed through, never dropped.
    model_config = ConfigDict(extra="allow")


Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Uuid = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]
Count = Annotated[int, Field(ge=0)]


class ItemOut(_Open):
    id: Uuid
    text: str
    textHtml: str = Field(description="The text rendered as safe HTML.")  # noqa: N815 (contract field names)
    status: Annotated[str, WithJsonSchema(_ANY_STATUS)]
    isHeader: bool  # noqa: N815
    mandatory: bool
    assigneeAccountId: str | None  # noqa: N815
    dueDate: Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "date"})]  # noqa: N815
    visibleToCustomer: bool = Field(False, description="Shown read-only on the Jira Service Management portal.")  # noqa: N815
    position: Count
    createdAt: Timestamp  # noqa: N815
    updatedAt: Timestamp  # noqa: N815
    version: Annotated[int, Field(ge=1)] = Field(
        description="This item's own version: grows by one when its fields change (not its position). "
        'If-Match: "item-<id>-<version>" makes a PATCH or DELETE of this item conditional on this item alone.'
    )


class ProgressOut(_Open):
    done: Count
    total: Count = Field(description="Items without headers.")
    mandatoryOpen: Count  # noqa: N815
    percent: Annotated[int, Field(ge=0, le=100)]
    complete: bool


class StatusOut(_Open):
    key: Annotated[str, WithJsonSchema({"type": "string", "pattern": STATUS_KEY_PATTERN})]
    name: str
    color: Annotated[str, WithJsonSchema({"type": "string", "pattern": COLOR_PATTERN})]
    countsAsDone: bool  # noqa: N815


StatusList = Annotated[list[StatusOut], Field(max_length=MAX_SITE_STATUSES)]


class ChecklistOut(_Open):
    issueId: Annotated[str, WithJsonSchema({"type": "string", "pattern": ISSUE_ID_PATTERN})]  # noqa: N815
    issueKey: str  # noqa: N815
    projectId: str  # noqa: N815
    issueTypeId: str  # noqa: N815
    version: Count = Field(description="Grows by one with every write; 0 before the first. Also the ETag.")
    items: Annotated[list[ItemOut], Field(max_length=MAX_ITEMS)]
    progress: ProgressOut
    statuses: StatusList | None = Field(
        None, description="GET only: the site's own statuses, beside the five built in (so the panel renders at once)."
    )


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


class ManagerPermissions(_Open):
    manageSite: bool = Field(description="Jira admin: site-wide templates and the site's statuses.")  # noqa: N815
    manageProject: bool = Field(description="Project admin (or Jira admin) of the projectId asked about.")  # noqa: N815


class ManagerOut(_Open):
    templates: TemplateList
    statuses: StatusList
    permissions: ManagerPermissions
    # Issue type id -> its name in Jira, for showing templates' issue types by name; {} when Jira did not answer.
    issueTypes: dict[str, str] = Field(default_factory=dict)  # noqa: N815


History = Annotated[list[ChangeOut], Field(max_length=MAX_HISTORY)]


class ErrorOut(_Open):
    """Every error: a machine-readable `error`, and what went wrong in words or per field."""

    error: str
    detail: str | None = None


class ValidationErrorOut(_Open):
    error: Annotated[str, WithJsonSchema({"type": "string", "enum": ["validation_failed"]})]
    fields: dict[str, str] = Field(
        description="Each bad field (or header, or `line N` of a text) and why: the first 50 of them."
    )
    errorCount: Count | None = Field(  # noqa: N815
        None, description="How many fields were bad in all, when there were more than `fields` names."
    )


class ConflictOut(_Open):
    error: Annotated[str, WithJsonSchema({"type": "string", "enum": ["conflict", "precondition_failed"]})]
    detail: str
    currentVersion: Count | None = None  # noqa: N815
    currentItem: ItemOut | None = Field(  # noqa: N815
        None,
        description="On a 412 of an item's If-Match: the item as stored now (null: someone deleted it), so both "
        "versions can be shown.",
    )


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


def if_match(operation: dict | None = None, *, item: bool = False) -> dict:
    """openapi_extra for a checklist write: the optional If-Match header (for a write of one item, also that item's
    ETag)."""
    description = "The checklist version this write was based on; another version answers 412."
    if item:
        description += (
            ' Or this item\'s ETag, "item-<id>-<version>" from its JSON: then only a change to this item since '
            "answers 412, with the item as stored now in `currentItem`."
        )
    return {
        **(operation or {}),
        "parameters": [
            {
                "in": "header",
                "name": "If-Match",
                "required": False,
                "description": description,
                "schema": {"type": "string", "pattern": ITEM_IF_MATCH_PATTERN if item else IF_MATCH_PATTERN},
            }
        ],
    }


IF_NONE_MATCH = {
    "parameters": [
        {
            "in": "header",
            "name": "If-None-Match",
            "required": False,
            "description": 'The version (ETag, e.g. "7") the caller holds: 304 with no body while it is current. '
            "What an open panel polls with; these reads count against their own rate limit, not the one writes "
            "share.",
            # Any value: one that names no current version (or no version at all) simply answers 200 (RFC 9110).
            "schema": {"type": "string"},
        }
    ]
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
            f"templates, one project at most {MAX_PROJECT_TEMPLATES}. Every error is JSON with an `error` code."
        )
        for path, operations in document["paths"].items():
            for operation in operations.values():
                operation["security"] = SECURITY
                if "/checklist" in path and not path.endswith("/history"):
                    for status in (200, 201, 204, 304):
                        if status in operation["responses"]:
                            operation["responses"][status]["headers"] = {"ETag": ETAG}
        return document
